import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LocalHostLimit } from "./local-host-limit.ts";

describe("LocalHostLimit", () => {
  it("refuses past the limit per group, logs once per group, and frees a slot when given back", () => {
    const logs: string[] = [];
    const limit = new LocalHostLimit({ max: 2, log: (line) => logs.push(line) });
    const a = limit.take("2001:db8::1", "[2001:db8::1]:1");
    assert.equal(limit.take("2001:db8::2", "[2001:db8::2]:2"), "2001:db8:0:0::/64");
    assert.equal(limit.take("2001:db8::3", "[2001:db8::3]:3"), null);
    assert.equal(limit.take("2001:db8::4", "[2001:db8::4]:4"), null);
    assert.equal(limit.take("2001:db9::1", "[2001:db9::1]:5"), "2001:db9:0:0::/64");
    assert.deepEqual(logs, ["refused [2001:db8::3]:3 (over 2 connections from one address)"]);
    limit.give(a as string);
    assert.notEqual(limit.take("2001:db8::5", "[2001:db8::5]:6"), null);
    assert.deepEqual(
      [...limit.entries()],
      [
        ["2001:db8:0:0::/64", 2],
        ["2001:db9:0:0::/64", 1],
      ],
    );
    limit.stop();
    assert.deepEqual([...limit.entries()], []);
  });
});
