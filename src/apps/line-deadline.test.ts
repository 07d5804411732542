import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LineDeadline } from "./line-deadline.ts";

describe("LineDeadline", () => {
  it("counts from a line's first byte, however often bytes of it arrive", () => {
    const deadline = new LineDeadline(1);
    assert.equal(deadline.check(true, false, 0), false, "the first byte starts the clock");
    for (let t = 250; t <= 1000; t += 250) assert.equal(deadline.check(true, false, t), false);
    assert.equal(deadline.check(true, false, 1250), true, "past the limit");
  });

  it("starts again with each line, and stops between lines", () => {
    const deadline = new LineDeadline(1);
    deadline.check(true, false, 0);
    assert.equal(deadline.check(true, true, 900), false, "a line ended: the next began now");
    assert.equal(deadline.check(true, false, 1800), false);
    assert.equal(deadline.check(false, true, 2000), false, "no line open");
    assert.equal(deadline.check(true, false, 5000), false, "a new line, after a pause");
    assert.equal(deadline.check(true, false, 6001), true);
  });

  it("forgets the line on reset, and never fires without a limit", () => {
    const deadline = new LineDeadline(1);
    deadline.check(true, false, 0);
    deadline.reset();
    assert.equal(deadline.check(true, false, 5000), false);
    for (const off of [new LineDeadline(null), new LineDeadline(0)]) {
      off.check(true, false, 0);
      assert.equal(off.check(true, false, 1e9), false);
    }
  });
});
