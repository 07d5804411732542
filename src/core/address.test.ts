import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  bindHost,
  checkInetAddress,
  checkUnixAddress,
  familyOfAddress,
  formatAddress,
  ipVersion,
  toSocketAddress,
} from "./address.ts";
import { AF_INET, AF_INET6, AF_UNIX } from "./constants.ts";
import { SocketError } from "./errors.ts";

function invalid(fn: () => unknown): SocketError {
  let caught: unknown;
  assert.throws(fn, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof SocketError);
  assert.equal(caught.code, "EINVAL");
  return caught;
}

describe("checkInetAddress", () => {
  it("takes a pair for AF_INET, up to four items for AF_INET6 (test_socket: AF_INET address must be a pair)", () => {
    invalid(() => checkInetAddress(AF_INET, ["127.0.0.1", 80, 0], "bind"));
    invalid(() => checkInetAddress(AF_INET, ["127.0.0.1", 80, 0, 0], "bind"));
    assert.equal(checkInetAddress(AF_INET6, ["::1", 80, 0, 0], "bind").port, 80);
    assert.equal(checkInetAddress(AF_INET6, ["::1", 80, 0], "bind").port, 80);
  });

  it("returns the host and port of a [host, port] tuple", () => {
    assert.deepEqual(checkInetAddress(AF_INET, ["127.0.0.1", 80], "connect"), {
      host: "127.0.0.1",
      port: 80,
      flowinfo: 0,
      scopeId: 0,
    });
    assert.deepEqual(checkInetAddress(AF_INET6, ["::1", 0, 0, 0], "bind"), {
      host: "::1",
      port: 0,
      flowinfo: 0,
      scopeId: 0,
    });
  });

  it("returns an IPv6 tuple's flowinfo and scope id, and rejects them out of range", () => {
    assert.deepEqual(checkInetAddress(AF_INET6, ["fe80::1", 22, 5, 2], "connect"), {
      host: "fe80::1",
      port: 22,
      flowinfo: 5,
      scopeId: 2,
    });
    invalid(() => checkInetAddress(AF_INET6, ["::1", 22, 0x100000, 0], "connect"));
    invalid(() => checkInetAddress(AF_INET6, ["::1", 22, -1, 0], "connect"));
    invalid(() => checkInetAddress(AF_INET6, ["::1", 22, 0, 2 ** 32], "connect"));
    invalid(() => checkInetAddress(AF_INET6, ["::1", 22, 0, "lo"], "connect"));
  });

  it("rejects what is not a tuple with EINVAL", () => {
    invalid(() => checkInetAddress(AF_INET, "127.0.0.1:80", "connect"));
    invalid(() => checkInetAddress(AF_INET, ["127.0.0.1"], "connect"));
    invalid(() => checkInetAddress(AF_INET, ["::1", 1, 2, 3, 4], "connect"));
  });

  it("rejects a non-string host and a port outside 0-65535", () => {
    invalid(() => checkInetAddress(AF_INET, [1, 80], "connect"));
    invalid(() => checkInetAddress(AF_INET, ["127.0.0.1", 65536], "connect"));
    invalid(() => checkInetAddress(AF_INET, ["127.0.0.1", -1], "connect"));
    invalid(() => checkInetAddress(AF_INET, ["127.0.0.1", 1.5], "connect"));
    invalid(() => checkInetAddress(AF_INET, ["127.0.0.1", "80"], "connect"));
  });

  it("names the action in the error", () => {
    const err = invalid(() => checkInetAddress(AF_INET, ["127.0.0.1", 70000], "bind"));
    assert.match(err.message, /^Cannot bind: /);
  });
});

describe("checkUnixAddress", () => {
  it("accepts a path and an abstract name", () => {
    assert.equal(checkUnixAddress("/tmp/x.sock", "bind"), "/tmp/x.sock");
    assert.equal(checkUnixAddress("\0name", "bind"), "\0name");
  });

  it("rejects an empty path, a non-string and a path longer than 107 bytes", () => {
    invalid(() => checkUnixAddress("", "bind"));
    invalid(() => checkUnixAddress(["/tmp/x", 1], "bind"));
    invalid(() => checkUnixAddress(`/tmp/${"x".repeat(103)}`, "bind"));
    assert.equal(checkUnixAddress(`/tmp/${"x".repeat(102)}`, "bind").length, 107);
  });

  it("testMaxName, testNameOverflow (test_socket.TestLinuxAbstractNamespace): an abstract name takes all 108 bytes, not 109", () => {
    const name = `\0${"h".repeat(107)}`;
    assert.equal(checkUnixAddress(name, "bind"), name);
    invalid(() => checkUnixAddress(`\0${"h".repeat(108)}`, "bind"));
  });

  it("counts bytes, not characters", () => {
    invalid(() => checkUnixAddress(`/${"é".repeat(54)}`, "bind"));
  });
});

describe("bindHost", () => {
  it('reads "" as every interface of the family', () => {
    assert.equal(bindHost(AF_INET, ""), "0.0.0.0");
    assert.equal(bindHost(AF_INET6, ""), "::");
  });

  it('reads "<broadcast>" as 255.255.255.255 and leaves other hosts alone', () => {
    assert.equal(bindHost(AF_INET, "<broadcast>"), "255.255.255.255");
    assert.equal(bindHost(AF_INET, "localhost"), "localhost");
    assert.equal(bindHost(AF_INET, "127.0.0.1"), "127.0.0.1");
  });
});

describe("ipVersion", () => {
  it("is 4 or 6 for literals and 0 for names", () => {
    assert.equal(ipVersion("127.0.0.1"), 4);
    assert.equal(ipVersion("::1"), 6);
    assert.equal(ipVersion("localhost"), 0);
    assert.equal(ipVersion(""), 0);
  });
});

describe("toSocketAddress", () => {
  it("is [host, port] for AF_INET", () => {
    assert.deepEqual(toSocketAddress(AF_INET, "127.0.0.1", 80), ["127.0.0.1", 80]);
  });

  it("is [host, port, flowinfo, scopeId] for AF_INET6", () => {
    assert.deepEqual(toSocketAddress(AF_INET6, "::1", 80), ["::1", 80, 0, 0]);
  });

  it("takes a numeric scope id from a zone suffix", () => {
    assert.deepEqual(toSocketAddress(AF_INET6, "fe80::1%2", 80), ["fe80::1%2", 80, 0, 2]);
  });
});

describe("formatAddress", () => {
  it("writes host:port, brackets around IPv6 hosts", () => {
    assert.equal(formatAddress(["127.0.0.1", 80]), "127.0.0.1:80");
    assert.equal(formatAddress(["::1", 80, 0, 0]), "[::1]:80");
    assert.equal(formatAddress({ host: "::1", port: 5 }), "[::1]:5");
  });

  it("writes Unix paths as they are and abstract names with @", () => {
    assert.equal(formatAddress("/tmp/x.sock"), "/tmp/x.sock");
    assert.equal(formatAddress("\0name"), "@name");
  });

  it("writes a malformed address without throwing (it is named in the error about it)", () => {
    assert.equal(formatAddress([5, 80] as unknown as [string, number]), "5:80");
    assert.equal(formatAddress(null as unknown as string), "null");
  });
});

describe("familyOfAddress", () => {
  it("is AF_UNIX for a path, AF_INET6 for IPv6 literals and 4-tuples, else AF_INET", () => {
    assert.equal(familyOfAddress("/tmp/x.sock"), AF_UNIX);
    assert.equal(familyOfAddress(["::1", 80]), AF_INET6);
    assert.equal(familyOfAddress(["localhost", 80, 0, 0]), AF_INET6);
    assert.equal(familyOfAddress(["127.0.0.1", 80]), AF_INET);
    assert.equal(familyOfAddress(["localhost", 80]), AF_INET);
  });
});
