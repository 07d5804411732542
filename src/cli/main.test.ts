import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
const run = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", MAIN, ...args], { encoding: "utf8" });

describe("socketkit command", () => {
  it("prints its version", () => {
    const r = run("--version");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
  });

  it("info lists the host name and the loopback address", () => {
    const r = run("info");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^hostname: ${hostname()}\n`));
    assert.match(r.stdout, /IPv4\s+127\.0\.0\.1 .*\(loopback\)/);
  });

  it("info --json is machine-readable", () => {
    const r = run("info", "--json");
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.hostname, hostname());
    assert.ok(info.addresses.some((a: { address: string }) => a.address === "127.0.0.1"));
  });

  it("rejects an unknown command with a one-line error and a non-zero exit", () => {
    const r = run("frobnicate");
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  });
});
