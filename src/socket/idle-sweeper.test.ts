import assert from "node:assert/strict";
import { test } from "node:test";
import { deferred } from "../../test/helpers/deferred.ts";
import { IdleSweeper } from "./idle-sweeper.ts";

test("one sweeper per interval checks every member, and one that leaves mid-sweep", async () => {
  const sweeper = IdleSweeper.every(30);
  assert.equal(IdleSweeper.every(30), sweeper);
  assert.notEqual(IdleSweeper.every(31), sweeper);
  const seen: string[] = [];
  const done = deferred();
  const leaving = {
    checkIdle: () => {
      seen.push("leaving");
      sweeper.delete(leaving);
    },
  };
  const staying = {
    checkIdle: (now: number) => {
      assert.equal(typeof now, "number");
      seen.push("staying");
      if (seen.filter((s) => s === "staying").length === 2) done.resolve();
    },
  };
  sweeper.add(leaving);
  sweeper.add(staying);
  // The sweeper's timer does not keep the process alive; this does, until the sweeps ran.
  const alive = setInterval(() => {}, 1000);
  await done.promise;
  clearInterval(alive);
  assert.deepEqual(seen, ["leaving", "staying", "staying"]);
  sweeper.delete(staying);
  assert.equal(sweeper.size, 0);
});

test("a sweeper's timer runs while it has members, and only then", () => {
  const sweeper = IdleSweeper.every(40);
  const first = { checkIdle: () => {} };
  const second = { checkIdle: () => {} };
  assert.equal(sweeper.running, false);
  sweeper.add(first);
  sweeper.add(second);
  assert.equal(sweeper.running, true);
  sweeper.delete(first);
  sweeper.delete(first);
  assert.equal(sweeper.running, true);
  sweeper.delete(second);
  assert.equal(sweeper.running, false);
  sweeper.add(first);
  assert.equal(sweeper.running, true);
  sweeper.delete(first);
});
