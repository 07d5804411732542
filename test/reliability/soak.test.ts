/**
 * The soak (test/reliability/soak.ts), shortened to 20 seconds: real servers behind fault
 * proxies under mixed traffic, then no crash, no descriptor or memory growth beyond the
 * stated bounds, every completed transfer hash-verified, and no error that no fault
 * explains. The full run is `npm run soak` (5 minutes).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { it } from "node:test";
import { ROOT } from "../helpers/proc.ts";

/** The whole test, soak and checks, must stay under this. */
const LIMIT_MS = 40_000;

interface SoakResult {
  seed: number;
  passed: boolean;
  checks: { name: string; ok: boolean; detail: string }[];
  unexpected: number;
  expected: number;
  faults: number;
  ops: Record<string, number>;
}

it("20 s of mixed traffic through faults: no crash, no leak, every transfer verified", {
  timeout: LIMIT_MS,
}, async (t) => {
  const started = performance.now();
  const child = spawn(process.execPath, ["--import", "tsx", `${ROOT}test/reliability/soak.ts`], {
    cwd: ROOT,
    env: { ...process.env, SOAK_SECONDS: "20" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  // Stopped by its pid if the test ends first; the soak then stops its own servers.
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await exited;
    }
  });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => {
    out += s;
  });
  child.stderr.setEncoding("utf8").on("data", (s: string) => {
    err = (err + s).slice(-20_000);
  });
  const code = await exited;
  const line = out.split("\n").find((l) => l.startsWith("SOAK_RESULT "));
  assert.ok(line !== undefined, `no SOAK_RESULT line; stdout:\n${out}\nstderr:\n${err}`);
  const result = JSON.parse(line.slice("SOAK_RESULT ".length)) as SoakResult;
  t.diagnostic(`SOAK_SEED=${result.seed}`);
  for (const summary of out.slice(0, out.indexOf("SOAK_RESULT")).trimEnd().split("\n")) {
    t.diagnostic(summary);
  }
  const why = `seed ${result.seed}\n${out}\n${err}`;
  for (const name of [
    "crashes",
    "handles",
    "memory",
    "transfers",
    "server logs",
    "coverage",
    "unexpected errors",
  ]) {
    const check = result.checks.find((c) => c.name === name);
    assert.ok(check !== undefined, `the summary has no "${name}" check`);
    assert.ok(check.ok, `${name}: ${check.detail} (${why})`);
  }
  assert.equal(result.unexpected, 0, why);
  assert.equal(result.ops["transfer hash mismatches"] ?? 0, 0, why);
  assert.ok((result.ops["transfers completed"] ?? 0) > 0, why);
  assert.equal(result.ops["transfers hash-verified"], result.ops["transfers completed"], why);
  assert.ok(result.faults > 0, why);
  assert.ok(result.passed, why);
  assert.equal(code, 0, why);
  t.diagnostic(`the soak took ${((performance.now() - started) / 1000).toFixed(1)} s in all`);
});
