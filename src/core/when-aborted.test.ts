import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { whenAborted } from "./when-aborted.ts";

describe("whenAborted", () => {
  it("runs the function once when the signal aborts, not before", () => {
    const controller = new AbortController();
    let runs = 0;
    whenAborted(controller.signal, () => runs++);
    assert.equal(runs, 0);
    controller.abort();
    controller.abort();
    assert.equal(runs, 1);
  });

  it("runs it at once for a signal that has aborted already", () => {
    let runs = 0;
    whenAborted(AbortSignal.abort(), () => runs++);
    assert.equal(runs, 1);
  });

  it("does not run it after it was taken off, nor without a signal", () => {
    const controller = new AbortController();
    let runs = 0;
    whenAborted(controller.signal, () => runs++)();
    controller.abort();
    whenAborted(undefined, () => runs++)();
    assert.equal(runs, 0);
  });
});
