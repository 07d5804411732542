import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { thrown } from "../../test/helpers/net.ts";
import { AccessList } from "./access-list.ts";
import { AccessListError } from "./errors.ts";

describe("AccessList", () => {
  it("allows every peer when it has no entries", () => {
    const access = new AccessList();
    assert.equal(access.empty, true);
    for (const peer of ["127.0.0.1", "10.1.2.3", "::1", "2001:db8::5", "/tmp/s.sock", ""])
      assert.equal(access.allows(peer), true, peer);
    assert.equal(new AccessList({ allow: [], deny: [] }).empty, true);
  });

  it("with an allow list, lets in only the peers on it", () => {
    const access = new AccessList({ allow: ["127.0.0.1,10.0.0.0/8", "::1"] });
    assert.equal(access.empty, false);
    for (const peer of ["127.0.0.1", "10.0.0.0", "10.255.255.255", "::1"])
      assert.equal(access.refusal(peer), null, peer);
    for (const peer of ["127.0.0.2", "11.0.0.0", "192.168.1.5", "::2", "2001:db8::1"])
      assert.equal(access.refusal(peer), "not allowed", peer);
  });

  it("refuses what the deny list names, even when the allow list names it too", () => {
    const access = new AccessList({
      allow: ["127.0.0.1,10.0.0.0/8", "::1"],
      deny: ["10.1.0.0/16"],
    });
    assert.equal(access.refusal("10.1.2.3"), "denied");
    assert.equal(access.refusal("10.2.3.4"), null);
    assert.equal(access.refusal("::1"), null);
    const both = new AccessList({ allow: ["127.0.0.1"], deny: ["127.0.0.1"] });
    assert.equal(both.refusal("127.0.0.1"), "denied");
  });

  it("with only a deny list, lets in everyone else", () => {
    const access = new AccessList({ deny: ["127.0.0.1", "fe80::/10"] });
    assert.equal(access.refusal("127.0.0.1"), "denied");
    assert.equal(access.refusal("fe80::1234"), "denied");
    assert.equal(access.refusal("127.0.0.2"), null);
    assert.equal(access.refusal("::1"), null, "::1 is not 127.0.0.1");
  });

  it("matches IPv4-mapped IPv6 peers against IPv4 entries", () => {
    const access = new AccessList({ allow: ["10.0.0.0/8"], deny: ["10.1.0.0/16"] });
    assert.equal(access.refusal("::ffff:10.2.3.4"), null);
    assert.equal(access.refusal("::FFFF:10.2.3.4"), null);
    assert.equal(access.refusal("::ffff:10.1.2.3"), "denied");
    assert.equal(access.refusal("::ffff:192.168.0.1"), "not allowed");
  });

  it("takes IPv6 entries in brackets and peers with brackets or a zone index", () => {
    const access = new AccessList({ allow: ["[::1]", "[fe80::]/10"] });
    assert.equal(access.allows("::1"), true);
    assert.equal(access.allows("[::1]"), true);
    assert.equal(access.allows("0:0:0:0:0:0:0:1"), true, "any spelling of ::1");
    assert.equal(access.allows("fe80::1%eth0"), true);
    assert.equal(access.allows("fe00::1"), false);
  });

  it("trims blanks around entries and reads a range with host bits as its network", () => {
    const access = new AccessList({ allow: [" 127.0.0.1 , 10.1.2.3/8"] });
    assert.equal(access.allows("127.0.0.1"), true);
    assert.equal(access.allows("10.200.0.1"), true);
  });

  it("matches no entry for a peer that is not an IP address", () => {
    assert.equal(new AccessList({ allow: ["127.0.0.1"] }).refusal("/tmp/s.sock"), "not allowed");
    assert.equal(new AccessList({ deny: ["127.0.0.1"] }).refusal("/tmp/s.sock"), null);
  });

  it("rejects an entry it cannot read with ERR_ACCESS_LIST, naming the list and the entry", () => {
    const cases: Array<[string, "allow" | "deny", RegExp]> = [
      ["localhost", "allow", /^Invalid --allow entry 'localhost': not an IPv4 or IPv6/],
      ["10.0.0.0/33", "deny", /^Invalid --deny entry '10.0.0.0\/33': .*0-32/],
      ["::/129", "allow", /0-128/],
      ["10.0.0.0/", "allow", /prefix length/],
      ["10.0.0.0/8x", "allow", /prefix length/],
      ["10.0.0.0/-1", "allow", /prefix length/],
      ["256.1.1.1", "allow", /not an IPv4 or IPv6/],
      ["127.0.0.1,,10.0.0.1", "allow", /^Invalid --allow entry '': empty/],
      ["fe80::1%eth0", "deny", /zone index/],
      ["", "deny", /empty/],
    ];
    for (const [entry, kind, message] of cases) {
      const err = thrown(
        () => new AccessList({ [kind]: [entry] }),
        AccessListError,
        "ERR_ACCESS_LIST",
      );
      assert.match(err.message, message, entry);
    }
  });
});

/** An IPv4 address as a 32-bit unsigned number, and back. */
const ip4 = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
const mask4 = (prefix: number) => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** An IPv6 address from a 128-bit bigint, in full form. */
function ip6(n: bigint): string {
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((n >> BigInt(i * 16)) & 0xffffn).toString(16));
  return groups.join(":");
}
const ALL6 = (1n << 128n) - 1n;
const mask6 = (prefix: number) => (ALL6 << BigInt(128 - prefix)) & ALL6;

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u128 = fc
  .tuple(
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  )
  .map(([hi, lo]) => (hi << 64n) | lo);

describe("AccessList properties", () => {
  it("an IPv4 address is allowed by a range exactly when it shares the range's prefix", () => {
    fc.assert(
      fc.property(u32, fc.integer({ min: 0, max: 32 }), u32, (net, prefix, peer) => {
        const access = new AccessList({ allow: [`${ip4(net)}/${prefix}`] });
        const inside = ((net ^ peer) & mask4(prefix)) >>> 0 === 0;
        assert.equal(access.allows(ip4(peer)), inside);
        // Every address with the range's prefix bits is inside, whatever its host bits.
        const member = ((net & mask4(prefix)) | (peer & ~mask4(prefix))) >>> 0;
        assert.equal(access.allows(ip4(member)), true);
        assert.equal(access.allows(`::ffff:${ip4(member)}`), true, "IPv4-mapped");
      }),
    );
  });

  it("an IPv6 address is allowed by a range exactly when it shares the range's prefix", () => {
    fc.assert(
      fc.property(u128, fc.integer({ min: 0, max: 128 }), u128, (net, prefix, peer) => {
        const access = new AccessList({ allow: [`${ip6(net)}/${prefix}`] });
        const m = mask6(prefix);
        assert.equal(access.allows(ip6(peer)), ((net ^ peer) & m) === 0n);
        assert.equal(access.allows(ip6((net & m) | (peer & ~m & ALL6))), true);
      }),
    );
  });

  it("deny wins: a peer in any deny range is refused whatever the allow list says", () => {
    fc.assert(
      fc.property(
        u32,
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 32 }),
        u32,
        (net, allowPrefix, denyPrefix, peer) => {
          const access = new AccessList({
            allow: [`${ip4(net)}/${allowPrefix}`],
            deny: [`${ip4(peer)}/${denyPrefix}`],
          });
          assert.equal(access.refusal(ip4(peer)), "denied");
          // Outside the deny range, the allow range alone decides.
          const other = (peer ^ 1) >>> 0;
          if (denyPrefix === 32) {
            const allowed = ((net ^ other) & mask4(allowPrefix)) >>> 0 === 0;
            assert.equal(access.allows(ip4(other)), allowed);
          }
        },
      ),
    );
  });
});
