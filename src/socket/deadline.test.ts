import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deadlineFrom, remaining } from "./deadline.ts";

describe("deadlines", () => {
  it("no timeout means no deadline and no limit", () => {
    assert.equal(deadlineFrom(null), null);
    assert.equal(remaining(null), null);
  });

  it("remaining counts down and never drops below 1 ms", () => {
    const d = deadlineFrom(10) as number;
    const left = remaining(d) as number;
    assert.ok(left > 9000 && left <= 10000);
    assert.equal(remaining(performance.now() - 1000), 1);
  });
});
