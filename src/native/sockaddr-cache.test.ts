import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AF_INET, AF_INET6, AF_UNIX } from "../core/constants.ts";
import { hasReactor, nativeReactorClass, reactorMissingReason } from "./reactor.ts";
import { SockaddrCache } from "./sockaddr-cache.ts";

const skip = hasReactor() ? false : `the native reactor is absent (${reactorMissingReason()})`;

function cache(family: number): SockaddrCache {
  const cls = nativeReactorClass();
  return new SockaddrCache(family, (host) =>
    cls.encodeAddress(
      family === AF_UNIX
        ? { family: "unix", path: Buffer.from(host) }
        : family === AF_INET6
          ? { family: "inet6", host, port: 0 }
          : { family: "inet", host, port: 0 },
    ),
  );
}

describe("SockaddrCache", { skip }, () => {
  it("encodes a Unix path or abstract name as the addon does, decodes it back, and a nameless sender as an empty string", () => {
    const c = cache(AF_UNIX);
    const cls = nativeReactorClass();
    for (const path of ["/tmp/a.sock", "\0abstract name", "/tmp/ünïcode.sock"]) {
      const raw = Buffer.from(c.encodePath(path) as Uint8Array);
      assert.deepEqual(raw, cls.encodeAddress({ family: "unix", path: Buffer.from(path) }));
      assert.equal(c.decode(raw), path);
      const shifted = Buffer.concat([Buffer.alloc(5, 0xff), raw, Buffer.alloc(4, 0x41)]);
      assert.equal(c.decode(shifted, 5, raw.length), path);
      assert.equal(c.encodePath(path), c.encodePath(path), "the second time from the cache");
    }
    // A path given with its NUL (the kernel's length may count it) ends there.
    assert.equal(
      c.decode(
        Buffer.concat([
          cls.encodeAddress({ family: "unix", path: Buffer.from("/x") }),
          Buffer.alloc(1),
        ]),
      ),
      "/x",
    );
    assert.equal(c.decode(Buffer.alloc(2, 1), 0, 2), "", "a sender with no name");
    assert.equal(c.decode(Buffer.alloc(0)), "");
    // Not a valid path: null, for the caller to check it the long way and say why.
    assert.equal(c.encodePath(""), null);
    assert.equal(c.encodePath(`/${"x".repeat(200)}`), null);
  });

  it("encodes an IPv4 tuple as the addon does, and decodes it back, at any offset", () => {
    const c = cache(AF_INET);
    const cls = nativeReactorClass();
    for (const [host, port] of [
      ["127.0.0.1", 5000],
      ["10.1.2.3", 0],
      ["255.255.255.255", 65535],
    ] as const) {
      const raw = Buffer.from(c.encode([host, port]) as Uint8Array);
      assert.deepEqual(raw, cls.encodeAddress({ family: "inet", host, port }));
      assert.deepEqual(c.decode(raw), [host, port]);
      const shifted = Buffer.concat([Buffer.alloc(7, 0xff), raw, Buffer.alloc(3)]);
      assert.deepEqual(c.decode(shifted, 7, raw.length), [host, port]);
      assert.deepEqual(c.decode(raw), [host, port], "the second time from the cache");
    }
  });

  it("encodes an IPv6 tuple with its flowinfo and scope id, and decodes it back", () => {
    const c = cache(AF_INET6);
    const cls = nativeReactorClass();
    for (const [host, port, flowinfo, scopeId] of [
      ["::1", 5000, 0, 0],
      ["fe80::1", 53, 7, 1],
      ["::ffff:127.0.0.1", 80, 0, 0],
    ] as const) {
      const raw = Buffer.from(c.encode([host, port, flowinfo, scopeId]) as Uint8Array);
      assert.deepEqual(raw, cls.encodeAddress({ family: "inet6", host, port, flowinfo, scopeId }));
      assert.deepEqual(c.decode(raw), [host, port, flowinfo, scopeId]);
    }
    // The buffer is reused: what a tuple with a scope wrote does not stay for the next.
    assert.deepEqual(c.decode(c.encode(["::1", 9]) as Buffer), ["::1", 9, 0, 0]);
  });

  it("leaves what is not an IP literal of its family, or a number out of range, to the caller", () => {
    const v4 = cache(AF_INET);
    const v6 = cache(AF_INET6);
    assert.equal(v4.encode(["localhost", 80]), null);
    assert.equal(v4.encode(["::1", 80]), null);
    assert.equal(v4.encode(["127.0.0.1", 65536]), null);
    assert.equal(v4.encode(["127.0.0.1", 1.5]), null);
    assert.equal(v4.encode(["127.0.0.1", "80"]), null);
    assert.equal(v6.encode(["127.0.0.1", 80]), null);
    assert.equal(v6.encode(["fe80::1%lo", 80]), null);
    assert.equal(v6.encode(["::1", 80, 0x100000, 0]), null);
    assert.equal(v6.encode(["::1", 80, 0, -1]), null);
  });
});
