import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hostGroup } from "./host-limit.ts";

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
