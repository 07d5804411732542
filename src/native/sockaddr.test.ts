/**
 * Raw socket addresses decoded in JavaScript exactly as the addon decodes them (inet_ntop's
 * text for every IPv6 address, ports, flowinfo, scope ids, Unix paths and abstract names).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { hasReactor, nativeReactorClass, reactorMissingReason } from "./reactor.ts";
import { decodeSockaddr, sockaddrFamily } from "./sockaddr.ts";

const noReactor = hasReactor() ? false : `the native reactor is absent (${reactorMissingReason()})`;

/** sockaddr_in6 bytes (the family in the host's order, as the kernel writes it). */
function in6(words: number[], port: number, flowinfo: number, scopeId: number): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt16LE(10, 0);
  b.writeUInt16BE(port, 2);
  b.writeUInt32BE(flowinfo, 4);
  for (const [i, w] of words.entries()) b.writeUInt16BE(w, 8 + 2 * i);
  b.writeUInt32LE(scopeId, 24);
  return b;
}

describe("decodeSockaddr", { skip: noReactor }, () => {
  const addon = () => nativeReactorClass();

  it("reads IPv4 addresses and ports", () => {
    const raw = addon().encodeAddress({ family: "inet", host: "192.0.2.33", port: 65535 });
    assert.equal(sockaddrFamily(raw), 2);
    assert.deepEqual(decodeSockaddr(raw), { family: "inet", host: "192.0.2.33", port: 65535 });
  });

  it("writes IPv6 addresses as inet_ntop does", () => {
    const cases: [number[], string][] = [
      [[0, 0, 0, 0, 0, 0, 0, 0], "::"],
      [[0, 0, 0, 0, 0, 0, 0, 1], "::1"],
      [[0x2001, 0xdb8, 0, 0, 1, 0, 0, 1], "2001:db8::1:0:0:1"],
      [[0, 0, 0, 0, 0, 0xffff, 0x7f00, 1], "::ffff:127.0.0.1"],
      [[0, 0, 0, 0, 0, 0, 0x0102, 0x0304], "::1.2.3.4"],
      [[1, 0, 0, 0, 0, 0, 0, 0], "1::"],
      [[1, 0, 1, 0, 1, 0, 1, 0], "1:0:1:0:1:0:1:0"],
      [[0xfe80, 0, 0, 0, 0xabcd, 0, 0, 0], "fe80::abcd:0:0:0"],
    ];
    for (const [words, text] of cases) {
      const got = decodeSockaddr(in6(words, 80, 0, 0)) as { host: string };
      assert.equal(got.host, text);
    }
  });

  it("agrees with the addon on any IPv6 address, port, flowinfo and scope id", () => {
    const word = fc.oneof(fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(
        fc.array(word, { minLength: 8, maxLength: 8 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xfffff }),
        fc.nat(),
        (words, port, flowinfo, scopeId) => {
          const raw = in6(words, port, flowinfo, scopeId);
          assert.deepEqual(decodeSockaddr(raw), addon().decodeAddress(raw));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("agrees with the addon on Unix paths and abstract names", () => {
    for (const path of [
      Buffer.from("/tmp/x.sock"),
      Buffer.from("\0abstract\0name"),
      Buffer.alloc(0),
    ]) {
      const raw = addon().encodeAddress({ family: "unix", path });
      assert.deepEqual(decodeSockaddr(raw), addon().decodeAddress(raw));
    }
  });

  it("refuses bytes that hold no address", () => {
    assert.throws(() => decodeSockaddr(Buffer.from([2, 0, 1])), RangeError);
    assert.throws(() => decodeSockaddr(Buffer.alloc(0)), RangeError);
  });
});
