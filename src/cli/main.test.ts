import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
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

  it("lists every command in its help, and each command's own help works", () => {
    const help = run("--help");
    assert.equal(help.status, 0, help.stderr);
    const names = [...help.stdout.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]);
    for (const name of names.filter((n) => n !== "help")) {
      const r = run(name as string, "--help");
      assert.equal(r.status, 0, `${name}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: socketkit ${name} `), name);
    }
    assert.deepEqual(names.sort(), [
      "bench",
      "chat",
      "connect",
      "fetch",
      "help",
      "info",
      "listen",
      "ping",
      "receive",
      "relay",
      "scan",
      "send",
      "serve",
      "share",
    ]);
  });

  it("ends quietly when the reader of its output goes away (| head)", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", MAIN, "--help"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    // Closed before the command has even started: its first write meets a broken pipe.
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const code = await new Promise((resolve) => child.once("close", resolve));
    assert.equal(stderr, "");
    assert.equal(code, 0);
  });

  it("rejects an unknown command with a one-line error and a non-zero exit", () => {
    const r = run("frobnicate");
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  });
});
