import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { thrown } from "../../test/helpers/net.ts";
import { pythonAnswer } from "../../test/helpers/python.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  htonl,
  htons,
  inet_aton,
  inet_ntoa,
  inet_ntop,
  inet_pton,
  ntohl,
  ntohs,
  OverflowError,
  SocketError,
} from "../index.ts";
import { normalizeAddress } from "./inet.ts";

const hex = (s: string) => Buffer.from(s, "hex");

/** Addresses whose 16-bit groups are mostly zero, 0xffff or small: every `::` case. */
function sampleIPv6(count: number): Buffer[] {
  const out: Buffer[] = [];
  let seed = 20;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed;
  };
  for (let i = 0; i < count; i++) {
    const b = Buffer.alloc(16);
    for (let w = 0; w < 8; w++) {
      const r = next() % 8;
      const value = r < 4 ? 0 : r === 4 ? 0xffff : r === 5 ? 1 : next() % 0x10000;
      b.writeUInt16BE(value, w * 2);
    }
    out.push(b);
  }
  // The IPv4-compatible and IPv4-mapped forms, and the addresses around them.
  for (const h of [
    "00000000000000000000000001020304",
    "00000000000000000000ffff01020304",
    "0000000000000000ffff000001020304",
    "00000000000000000000000000000001",
    "00000000000000000000000000010203",
    "0000000000000000000000000000ffff",
    "00000000000000000000fffe01020304",
    "20010db8000000000001000000000001",
    "20010db8000000010000000000000001",
  ]) {
    out.push(hex(h));
  }
  return out;
}

describe("inet_pton and inet_ntop", () => {
  it("testIPv4toString (GeneralModuleTests): dotted quads to bytes, the rest refused", () => {
    const g = (a: string) => inet_pton(AF_INET, a);
    assert.deepEqual(g("0.0.0.0"), hex("00000000"));
    assert.deepEqual(g("255.0.255.0"), hex("ff00ff00"));
    assert.deepEqual(g("170.170.170.170"), hex("aaaaaaaa"));
    assert.deepEqual(g("255.255.255.255"), hex("ffffffff"));
    for (const bad of ["0.0.0.", "300.0.0.0", "a.0.0.0", "1.2.3.4.5", "::1", "127.1", "01.2.3.4"]) {
      thrown(() => g(bad), SocketError, "EINVAL");
    }
  });

  it("testIPv6toString (GeneralModuleTests): IPv6 text to 16 bytes, malformed refused", () => {
    const f = (a: string) => inet_pton(AF_INET6, a);
    assert.deepEqual(f("::"), Buffer.alloc(16));
    assert.deepEqual(f("0::0"), Buffer.alloc(16));
    assert.deepEqual(f("1::"), hex(`0001${"00".repeat(14)}`));
    assert.deepEqual(
      f("45ef:76cb:1a:56ef:afeb:bac:1924:aeae"),
      hex("45ef76cb001a56efafeb0bac1924aeae"),
    );
    assert.deepEqual(f("ad42:abc::127:0:254:2"), hex("ad420abc000000000127000002540002"));
    assert.deepEqual(f("12:a::"), hex(`0012000a${"00".repeat(12)}`));
    assert.deepEqual(f("::254.42.23.64"), hex(`${"00".repeat(12)}fe2a1740`));
    assert.deepEqual(f("42::a29b:254.42.23.64"), hex(`0042${"00".repeat(8)}a29bfe2a1740`));
    assert.deepEqual(
      f("42:a8b9:0:2:ffff:a29b:254.42.23.64"),
      hex("0042a8b900000002ffffa29bfe2a1740"),
    );
    for (const bad of [
      "0x20::",
      ":::",
      "::0::",
      "1::abc::",
      "1::abc::def",
      "1:2:3:4:5:6",
      "1:2:3:4:5:6:",
      "1:2:3:4:5:6:7:8:0",
      "1:2:3:4:5:6:7:8:",
      "255.254.253.252",
      "1::260.2.3.0",
      "1::0.be.e.0",
      "1:2:3:4:5:6:7:1.2.3.4",
      "::1.2.3.4:0",
      "0.100.200.0:3:4:5:6:7:8",
      "fe80::1%lo",
      "",
      ":1::",
      "12345::",
    ]) {
      thrown(() => f(bad), SocketError, "EINVAL");
    }
  });

  it("testStringToIPv4 (GeneralModuleTests): 4 bytes to dotted text, other lengths refused", () => {
    for (const ntoa of [inet_ntoa, (b: Uint8Array) => inet_ntop(AF_INET, b)]) {
      assert.equal(ntoa(hex("01000100")), "1.0.1.0");
      assert.equal(ntoa(hex("aa55aa55")), "170.85.170.85");
      assert.equal(ntoa(hex("ffffffff")), "255.255.255.255");
      assert.equal(ntoa(new Uint8Array([0xaa, 0x55, 0xaa, 0x55])), "170.85.170.85");
      for (const n of [3, 5, 16]) thrown(() => ntoa(Buffer.alloc(n)), SocketError, "EINVAL");
    }
  });

  it("testStringToIPv6 (GeneralModuleTests): 16 bytes to glibc's text", () => {
    const f = (b: Uint8Array) => inet_ntop(AF_INET6, b);
    assert.equal(f(Buffer.alloc(16)), "::");
    assert.equal(f(hex(`${"00".repeat(15)}01`)), "::1");
    assert.equal(f(hex("0aef0b0105061001ffff999700550170")), "aef:b01:506:1001:ffff:9997:55:170");
    assert.equal(f(new Uint8Array(hex(`${"00".repeat(15)}01`))), "::1");
    for (const n of [15, 17, 4]) thrown(() => f(Buffer.alloc(n, 0x12)), SocketError, "EINVAL");
  });

  it("refuses another family with EAFNOSUPPORT, as the system does", () => {
    thrown(() => inet_pton(AF_UNIX, "x"), SocketError, "EAFNOSUPPORT");
    thrown(() => inet_ntop(AF_UNIX, Buffer.alloc(4)), SocketError, "EAFNOSUPPORT");
  });

  it("prints the first longest run of zeros as :: and never a single zero group", () => {
    const f = (h: string) => inet_ntop(AF_INET6, hex(h));
    assert.equal(f("00010000000000010000000000000001"), "1:0:0:1::1");
    assert.equal(f("00010000000000010000000000010001"), "1::1:0:0:1:1");
    assert.equal(f("00010000000100000000000100000001"), "1:0:1::1:0:1");
    assert.equal(f("00010002000300040005000600000008"), "1:2:3:4:5:6:0:8");
    assert.equal(f("20010db8000000000000000000000000"), "2001:db8::");
    assert.equal(f("00000000000000000000ffff01020304"), "::ffff:1.2.3.4");
    assert.equal(f("00000000000000000000000001020304"), "::1.2.3.4");
  });

  it("reads back whatever it prints (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const text = inet_ntop(AF_INET6, bytes);
        assert.deepEqual(new Uint8Array(inet_pton(AF_INET6, text)), bytes);
        assert.equal(text, text.toLowerCase());
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (bytes) => {
        assert.deepEqual(new Uint8Array(inet_pton(AF_INET, inet_ntop(AF_INET, bytes))), bytes);
      }),
    );
  });

  it("testStringToIPv6 (GeneralModuleTests): prints every address as Python does", (t) => {
    const samples = sampleIPv6(400);
    const expected = pythonAnswer<string[]>(
      t,
      `import json, socket, sys
print(json.dumps([socket.inet_ntop(socket.AF_INET6, bytes.fromhex(h)) for h in json.loads(sys.argv[1])]))`,
      samples.map((b) => b.toString("hex")),
    );
    if (expected === undefined) return;
    assert.deepEqual(
      samples.map((b) => inet_ntop(AF_INET6, b)),
      expected,
    );
  });

  it("testIPv6toString (GeneralModuleTests): takes and refuses what Python does", (t) => {
    const inputs = [
      "::",
      "::1",
      "1::",
      "::ffff:1.2.3.4",
      "::1.2.3.4",
      "1:2:3:4:5:6:1.2.3.4",
      "1:2:3:4:5:6:7::",
      "::2:3:4:5:6:7:8",
      "1:2:3:4:5:6:7:8::",
      "FFFF::ABCD",
      "1:02:003:0004::",
      "1:00004::",
      "::1.2.3",
      "::01.2.3.4",
      ":1::2",
      "1::2:",
      "1:::2",
      "1.2.3.4",
      "g::",
      "1:2:3:4:5:6:7:8:9",
      "::ffff:1.2.3.4.5",
    ];
    const expected = pythonAnswer<Array<string | null>>(
      t,
      `import json, socket, sys
def f(a):
    try: return socket.inet_pton(socket.AF_INET6, a).hex()
    except OSError: return None
print(json.dumps([f(a) for a in json.loads(sys.argv[1])]))`,
      inputs,
    );
    if (expected === undefined) return;
    const ours = inputs.map((a) => {
      try {
        return inet_pton(AF_INET6, a).toString("hex");
      } catch {
        return null;
      }
    });
    assert.deepEqual(ours, expected);
  });
});

describe("inet_aton", () => {
  it("testIPv4_inet_aton_fourbytes (GeneralModuleTests): always 4 bytes", () => {
    assert.deepEqual(inet_aton("0.0.0.0"), Buffer.alloc(4));
    assert.deepEqual(inet_aton("255.255.255.255"), Buffer.alloc(4, 0xff));
  });

  it("testIPv4toString (GeneralModuleTests): dotted quads, and malformed ones refused", () => {
    assert.deepEqual(inet_aton("255.0.255.0"), hex("ff00ff00"));
    assert.deepEqual(inet_aton("1.2.3.4"), hex("01020304"));
    for (const bad of ["0.0.0.", "300.0.0.0", "a.0.0.0", "1.2.3.4.5", "::1"]) {
      thrown(() => inet_aton(bad), SocketError, "EINVAL");
    }
  });

  it("testIPv4toString (GeneralModuleTests): the classic forms glibc takes", () => {
    assert.deepEqual(inet_aton("127.1"), hex("7f000001"));
    assert.deepEqual(inet_aton("0x7f.1"), hex("7f000001"));
    assert.deepEqual(inet_aton("0177.0.0.1"), hex("7f000001"));
    assert.deepEqual(inet_aton("2130706433"), hex("7f000001"));
    assert.deepEqual(inet_aton("10.0x10203"), hex("0a010203"));
    assert.deepEqual(inet_aton("1.2.3.4 anything"), hex("01020304"));
  });

  it("testIPv4toString (GeneralModuleTests): reads every form as Python (glibc) does", (t) => {
    const inputs = [
      "127.1",
      "127.0.1",
      "0x7f.1",
      "0X7F.0.0.1",
      "0177.0.0.1",
      "0x7f000001",
      "017700000001",
      "4294967295",
      "4294967296",
      "0xffffffff",
      "0x100000000",
      "1.16777215",
      "1.16777216",
      "1.2.65535",
      "1.2.65536",
      "1.2.3.255",
      "1.2.3.256",
      "256.1",
      "08.1.1.1",
      "09",
      "0x",
      "0x.1",
      "0xg",
      "00",
      "0",
      "1.2.3.4 junk",
      "1.2.3.4\tjunk",
      "1.2.3.4\n",
      " 1.2.3.4",
      "1.2.3.4x",
      "1..2",
      ".1.2.3",
      "1.2.3.",
      "",
      "+1.2.3.4",
      "1.2.3.0x4",
      "0x1.0x2.0x3.0x4",
      "01.02.03.04",
      "999999999999999999999",
    ];
    const expected = pythonAnswer<Array<string | null>>(
      t,
      `import json, socket, sys
def f(a):
    try: return socket.inet_aton(a).hex()
    except OSError: return None
print(json.dumps([f(a) for a in json.loads(sys.argv[1])]))`,
      inputs,
    );
    if (expected === undefined) return;
    const ours = inputs.map((a) => {
      try {
        return inet_aton(a).toString("hex");
      } catch {
        return null;
      }
    });
    assert.deepEqual(
      Object.fromEntries(inputs.map((a, i) => [a, ours[i]])),
      Object.fromEntries(inputs.map((a, i) => [a, expected[i]])),
    );
  });
});

describe("normalizeAddress", () => {
  it("prints IPv6 as inet_ntop does, keeps a zone, leaves the rest alone", () => {
    assert.equal(normalizeAddress("ff02::1de:c0:face:8D"), "ff02::1de:c0:face:8d");
    assert.equal(normalizeAddress("FE80:0:0::1%eth0"), "fe80::1%eth0");
    assert.equal(normalizeAddress("127.0.0.1"), "127.0.0.1");
    assert.equal(normalizeAddress("not:an:address:at:all"), "not:an:address:at:all");
  });
});

describe("byte order", () => {
  const sizes: Array<[(x: number) => number, number]> = [
    [htonl, 32],
    [ntohl, 32],
    [htons, 16],
    [ntohs, 16],
  ];

  it("testNtoH (GeneralModuleTests): each is its own inverse on the low bits", () => {
    for (const [func, size] of sizes) {
      const mask = 2 ** size - 1;
      for (const i of [0, 1, 0xffff, ~0xffff, 2, 0x01234567, 0x76543210]) {
        // Python's i & mask on an arbitrary-size int, for JavaScript's 32-bit operators.
        const low = Number(BigInt(i) & BigInt(mask));
        assert.equal(func(func(low)), low);
      }
      assert.equal(func(mask), mask);
      thrown(() => func(2 ** 34), OverflowError, "ERR_OUT_OF_RANGE");
    }
  });

  it("testNtoHErrors (GeneralModuleTests): OverflowError outside the unsigned range", () => {
    const sGood = [0, 1, 2, 0xffff];
    const lGood = [...sGood, 0xffffffff];
    const lBad = [-1, -2, 2 ** 32, 2 ** 1000];
    const sBad = [...lBad, -(2 ** 31) - 1, 2 ** 31, 2 ** 16, 2 ** 31 - 1];
    for (const k of sGood) {
      ntohs(k);
      htons(k);
    }
    for (const k of lGood) {
      ntohl(k);
      htonl(k);
    }
    for (const k of sBad) {
      thrown(() => ntohs(k), OverflowError, "ERR_OUT_OF_RANGE");
      thrown(() => htons(k), OverflowError, "ERR_OUT_OF_RANGE");
    }
    for (const k of lBad) {
      thrown(() => ntohl(k), OverflowError, "ERR_OUT_OF_RANGE");
      thrown(() => htonl(k), OverflowError, "ERR_OUT_OF_RANGE");
    }
  });

  it("refuses a number that is not an integer, as Python's TypeError", () => {
    thrown(() => htons(1.5), SocketError, "EINVAL");
    thrown(() => htonl(Number.NaN), SocketError, "EINVAL");
  });

  it("gives the numbers Python gives on this machine", (t) => {
    const values = [0, 1, 0x1234, 0xffff, 0x01020304, 0xfffffffe, 0x80000000];
    const expected = pythonAnswer<number[][]>(
      t,
      `import json, socket, sys
vs = json.loads(sys.argv[1])
print(json.dumps([[socket.htons(v) if v <= 0xffff else None for v in vs], [socket.htonl(v) for v in vs]]))`,
      values,
    );
    if (expected === undefined) return;
    assert.deepEqual(
      [values.map((v) => (v <= 0xffff ? htons(v) : null)), values.map((v) => htonl(v))],
      expected,
    );
  });
});
