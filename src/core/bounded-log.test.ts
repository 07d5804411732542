import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { until } from "../../test/helpers/net.ts";
import { BoundedLog } from "./bounded-log.ts";

function bounded(options: { maxLines?: number; windowMs?: number } = {}) {
  const lines: string[] = [];
  const log = new BoundedLog({
    ...options,
    log: (line) => lines.push(line),
    summary: (n) => `${n} more`,
  });
  return { lines, log };
}

describe("BoundedLog", () => {
  it("writes a key once per window, and drops the repeats", () => {
    const { lines, log } = bounded();
    log.note("10.0.0.1", "first");
    log.note("10.0.0.1", "again");
    log.note("10.0.0.2", "other host");
    log.close();
    assert.deepEqual(lines, ["first", "other host"]);
  });

  it("writes at most maxLines lines in a flood of different keys, then one summary", () => {
    const { lines, log } = bounded({ maxLines: 3 });
    for (let i = 0; i < 1000; i++) log.note(`host ${i}`, `line ${i}`);
    assert.deepEqual(lines, ["line 0", "line 1", "line 2"]);
    log.close();
    assert.deepEqual(lines.slice(3), ["997 more"]);
    log.close();
    assert.equal(lines.length, 4, "the summary is written once");
  });

  it("sums up when the window ends, and writes a key again in the next window", async () => {
    const { lines, log } = bounded({ maxLines: 1, windowMs: 50 });
    log.note("a", "a 1");
    const started = performance.now(); // the window began at the first note, just before
    log.note("b", "b 1");
    await until(() => lines.length === 2, "the summary at the end of the window");
    assert.deepEqual(lines, ["a 1", "1 more"]);
    await until(() => performance.now() - started >= 50, "the next window");
    log.note("a", "a 2");
    assert.deepEqual(lines.at(-1), "a 2");
    log.close();
  });
});
