/**
 * Python's answer to the same question, for tests that compare socketkit with CPython's
 * `socket` module: run a snippet that prints JSON, and read it back.
 */
import { spawnSync } from "node:child_process";
import type { TestContext } from "node:test";
import { python3 } from "./net.ts";

/**
 * What `python3 -c code` prints, parsed as JSON; `undefined` after skipping the test
 * (saying why) when there is no python3. `input` reaches the snippet as JSON in
 * `sys.argv[1]` (read it with `json.loads(sys.argv[1])`).
 */
export function pythonAnswer<T>(
  t: TestContext,
  code: string,
  input: unknown = null,
): T | undefined {
  if (python3() === null) {
    t.skip("python3 is not installed, so there is no Python answer to compare with");
    return undefined;
  }
  const r = spawnSync("python3", ["-c", code, JSON.stringify(input)], {
    encoding: "utf8",
    timeout: 30_000,
  });
  if (r.status !== 0) throw new Error(`python3 failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
