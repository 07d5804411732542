import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import type { TransferredFile, TransferSummary } from "../apps/transfer/index.ts";
import { summaryLine } from "./transfer.ts";

const HASH = "a".repeat(64);

function file(path: string, size: number, sent: number, outcome: TransferredFile["outcome"]) {
  return { path, size, sent, sha256: HASH, outcome, resumedAt: size - sent };
}

function summary(files: TransferredFile[], seconds = 2): TransferSummary {
  return { files, bytes: files.reduce((n, f) => n + f.sent, 0), seconds, sha256: HASH };
}

describe("summaryLine", () => {
  it("gives a file sent whole its bytes, time and rate", () => {
    assert.equal(
      summaryLine("sent", summary([file("a.bin", 4_000_000, 4_000_000, "sent")])),
      `sent a.bin, 4000000 bytes in 2.00 s (2.0 MB/s), sha256 ${HASH}`,
    );
  });

  it("says a file already there is, instead of reporting an empty transfer", () => {
    const line = summaryLine("sent", summary([file("notes", 1024, 0, "present")]));
    assert.equal(
      line,
      `sent notes: already there (1024 bytes, the same SHA-256), nothing moved, sha256 ${HASH}`,
    );
    assert.doesNotMatch(line, /, 0 bytes/);
  });

  it("says where a resumed file resumed, and rates only the bytes that moved", () => {
    assert.equal(
      summaryLine("received", summary([file("big.iso", 10_000_000, 4_000_000, "resumed")])),
      `received big.iso, resumed at 6000000 of 10000000 bytes: 4000000 bytes in 2.00 s (2.0 MB/s), sha256 ${HASH}`,
    );
  });

  it("counts, for several files, those already there and those resumed", () => {
    const files = [
      file("a", 10, 10, "sent"),
      file("b", 10, 0, "present"),
      file("c", 1000, 400, "resumed"),
    ];
    assert.equal(
      summaryLine("sent", summary(files)),
      `sent 3 files (1 already there, 1 resumed at 600 bytes), 410 bytes in 2.00 s (0.0 MB/s), sha256 ${HASH}`,
    );
    files.push(file("d", 100, 50, "resumed"));
    assert.match(
      summaryLine("sent", summary(files)),
      /^sent 4 files \(1 already there, 2 resumed with 650 bytes already there\), 460 bytes/,
    );
  });

  it("shows a name's control characters escaped", () => {
    assert.match(
      summaryLine("sent", summary([file("\u001b[2Jx", 1, 1, "sent")])),
      /^sent \^\[\[2Jx, 1 bytes/,
    );
  });
});

describe("the transfer commands' start-up", () => {
  it("loads the Magic Wormhole side (ws, its crypto) only when a code is used", () => {
    // `send --to` and `receive --port` start a new process per transfer: what they load is
    // start-up time (a folder of small files pays it once on each side).
    const script = `
      import { createRequire } from "node:module";
      await import(${JSON.stringify(new URL("./transfer.ts", import.meta.url).href)});
      const cache = Object.keys(createRequire(import.meta.url).cache);
      process.stdout.write(JSON.stringify(cache.filter((k) => /[\\\\/]node_modules[\\\\/]ws[\\\\/]/.test(k))));
    `;
    const run = spawnSync(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script],
      { encoding: "utf8", timeout: 60_000 },
    );
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), []);
  });
});
