import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HostLimit, hostGroup } from "./host-limit.ts";

describe("hostGroup", () => {
  it("keeps an IPv4 address, unmaps an IPv4-mapped one, and groups IPv6 by /64", () => {
    assert.equal(hostGroup("127.0.0.1"), "127.0.0.1");
    assert.equal(hostGroup("::ffff:10.1.2.3"), "10.1.2.3");
    assert.equal(hostGroup("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
    assert.equal(hostGroup("2001:0db8:0001:0002:ffff:1:2:3"), "2001:db8:1:2::/64");
    assert.equal(hostGroup("2001:db8::1"), "2001:db8:0:0::/64");
    assert.equal(hostGroup("::1"), "0:0:0:0::/64");
    assert.equal(hostGroup("fe80::1%eth0"), "fe80:0:0:0::/64");
  });
});

describe("HostLimit", () => {
  it("refuses past the limit per group, logs once per group, and frees a slot when given back", () => {
    const logs: string[] = [];
    const limit = new HostLimit({ max: 2, log: (line) => logs.push(line) });
    const a = limit.take("2001:db8::1", "[2001:db8::1]:1");
    assert.equal(limit.take("2001:db8::2", "[2001:db8::2]:2"), "2001:db8:0:0::/64");
    assert.equal(limit.take("2001:db8::3", "[2001:db8::3]:3"), null);
    assert.equal(limit.take("2001:db8::4", "[2001:db8::4]:4"), null);
    assert.equal(limit.take("2001:db9::1", "[2001:db9::1]:5"), "2001:db9:0:0::/64");
    assert.deepEqual(logs, ["refused [2001:db8::3]:3 (over 2 connections from one address)"]);
    limit.give(a as string);
    assert.notEqual(limit.take("2001:db8::5", "[2001:db8::5]:6"), null);
    limit.clear();
  });
});
