import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { runCommand } from "./command-shell.ts";

const context = {
  clientAddress: ["127.0.0.1", 5555] as [string, number],
  server: { stats: { accepted: 3, active: 1, rejected: 0, errors: 2 } },
};

describe("runCommand", () => {
  it("answers each command", () => {
    assert.deepEqual(runCommand("echo  two words", context).lines, [" two words"]);
    assert.deepEqual(runCommand("UPPER abc", context).lines, ["ABC"]);
    assert.deepEqual(runCommand("whoami", context).lines, ["127.0.0.1:5555"]);
    assert.deepEqual(runCommand("stats", context).lines, [
      "accepted 3, active 1, rejected 0, errors 2",
    ]);
    assert.match(runCommand("time", context).lines[0] ?? "", /^\d{4}-\d\d-\d\dT/);
    assert.ok(runCommand("help", context).lines.length > 5);
    assert.deepEqual(runCommand("quit", context), { lines: ["bye"], quit: true });
  });

  it("reports an unknown command with its name escaped, and keeps the session", () => {
    const r = runCommand("rm\u001b[2J -rf /", context);
    assert.equal(r.quit, false);
    assert.equal(r.lines[0], 'error: unknown command "rm\\x1b[2J" (try help)');
  });

  it("escapes C1 and bidirectional controls too, which a terminal would also obey", () => {
    const r = runCommand("\u009b2J\u202eevil", context);
    assert.equal(r.lines[0], 'error: unknown command "\\x9b2J\\u202eevil" (try help)');
  });

  it("never throws and only quits on quit or exit, for any input", () => {
    fc.assert(
      fc.property(fc.string(), (line) => {
        const r = runCommand(line, context);
        const name = line.trim().split(" ")[0]?.toLowerCase();
        assert.equal(r.quit, name === "quit" || name === "exit");
      }),
    );
  });
});
