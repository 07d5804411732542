import assert from "node:assert/strict";
import { test } from "node:test";
import { deferred } from "../../test/helpers/deferred.ts";
import { LogBudget } from "./log-budget.ts";

test("writes maxLines lines per window, then one line summing up the rest", async () => {
  const lines: string[] = [];
  const summed = deferred();
  const log = new LogBudget(
    (l) => {
      lines.push(l);
      if (l.startsWith("and ")) summed.resolve();
    },
    { maxLines: 3, windowMs: 50, summary: (n) => `and ${n} more` },
  );
  for (let i = 0; i < 10; i++) log.write(`line ${i}`);
  assert.deepEqual(lines, ["line 0", "line 1", "line 2"]);
  // The summary comes by itself when the window ends (the timer is unref'd: keep alive).
  const alive = setInterval(() => {}, 1000);
  await summed.promise;
  clearInterval(alive);
  assert.deepEqual(lines.slice(3), ["and 7 more"]);
  log.write("next window");
  assert.equal(lines.at(-1), "next window");
});

test("flush writes the summary still owed at once, and nothing when none is", () => {
  const lines: string[] = [];
  const log = new LogBudget((l) => lines.push(l), { maxLines: 1, summary: (n) => `+${n}` });
  log.flush();
  assert.deepEqual(lines, []);
  log.write("a");
  log.write("b");
  log.write("c");
  log.flush();
  assert.deepEqual(lines, ["a", "+2"]);
  log.flush();
  assert.deepEqual(lines, ["a", "+2"]);
});
