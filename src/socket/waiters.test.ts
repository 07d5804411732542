import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BlockingIOError, TimeoutError } from "../core/errors.ts";
import { timeoutError, Waiters } from "./waiters.ts";

describe("Waiters", () => {
  it("wake resolves every waiter", { timeout: 5000 }, async () => {
    const w = new Waiters();
    const a = w.wait(null, "receive");
    const b = w.wait(1000, "receive");
    w.wake();
    await Promise.all([a, b]);
  });

  it("a wait of 0 rejects at once with BlockingIOError (EAGAIN)", async () => {
    const w = new Waiters();
    await assert.rejects(w.wait(0, "receive from 127.0.0.1:1"), (err: unknown) => {
      assert.ok(err instanceof BlockingIOError);
      assert.equal(err.code, "EAGAIN");
      return true;
    });
  });

  it("a timed wait rejects with TimeoutError (ETIMEDOUT) naming the action", {
    timeout: 5000,
  }, async () => {
    const w = new Waiters();
    const started = performance.now();
    await assert.rejects(w.wait(50, "accept on 127.0.0.1:1"), (err: unknown) => {
      assert.ok(err instanceof TimeoutError);
      assert.equal(err.code, "ETIMEDOUT");
      return true;
    });
    assert.ok(performance.now() - started >= 45);
  });

  it("a waiter that timed out is not woken later and does not block the others", {
    timeout: 5000,
  }, async () => {
    const w = new Waiters();
    await assert.rejects(w.wait(10, "receive"), TimeoutError);
    const next = w.wait(null, "receive");
    w.wake();
    await next;
  });

  it("watch calls back once at the next wake, and not at all once cancelled", () => {
    const w = new Waiters();
    const calls: string[] = [];
    w.watch(() => calls.push("kept"));
    const cancel = w.watch(() => calls.push("cancelled"));
    cancel();
    w.wake();
    w.wake();
    assert.deepEqual(calls, ["kept"]);
    // A cancel after the wake is harmless, and the Waiters hold nothing more.
    cancel();
    const next = w.watch(() => calls.push("next"));
    w.wake();
    next();
    assert.deepEqual(calls, ["kept", "next"]);
  });
});

describe("timeoutError", () => {
  it("timeoutError says the action timed out", () => {
    const err = timeoutError("receive from 127.0.0.1:80");
    assert.ok(err instanceof TimeoutError);
    assert.equal(err.message, "Cannot receive from 127.0.0.1:80: timed out");
  });
});
