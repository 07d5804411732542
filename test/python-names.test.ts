/**
 * The README's "Python → socketkit" table against Python itself: every public name of
 * Python's `socket` and `socketserver` (functions, classes, the methods of `socket.socket`
 * and of the servers and handlers, and the constants, which a row may cover with a glob
 * such as `AF_*`) has a row; and every socketkit name a row gives exists: an export of
 * `socketkit`, `socketkit/server` or `socketkit/select`, or a member of the class it names.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { python3, ROOT } from "./helpers/proc.ts";

const PY = python3();
const LIST = `
import socket, socketserver, json
names = set(n for n in dir(socket) if not n.startswith("_") and n not in ("errno", "os", "sys", "io", "selectors", "array"))
names |= set(n for n in dir(socket.socket) if not n.startswith("_"))
names |= set(socketserver.__all__)
for c in (socketserver.BaseServer, socketserver.TCPServer, socketserver.UDPServer,
          socketserver.BaseRequestHandler, socketserver.StreamRequestHandler,
          socketserver.DatagramRequestHandler, socketserver.ThreadingMixIn, socketserver.ForkingMixIn):
    names |= set(n for n in vars(c) if not n.startswith("_"))
print(json.dumps(sorted(names)))
`;

/** The rows of the README's table: the names in its first cell, and in its second. */
function tableRows(): { python: string[]; ours: string[]; row: string }[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf("## Python → socketkit");
  assert.ok(start >= 0, "the README has the section");
  const section = readme.slice(start, readme.indexOf("\n## ", start + 10));
  const ticks = (cell: string) =>
    [...cell.matchAll(/`([^`]+)`/g)].map((m) => (m[1] as string).replace(/^socketserver\./, ""));
  return section
    .split("\n")
    .filter((l) => l.startsWith("| `"))
    .map((row) => {
      const cells = row.split("|").slice(1, -1);
      return { python: ticks(cells[0] ?? ""), ours: ticks(cells[1] ?? ""), row };
    });
}

const covers = (pattern: string, name: string) =>
  pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : pattern === name;

describe("the Python → socketkit table", () => {
  it("has a row for every name of Python's socket and socketserver", {
    skip: PY === null ? "python3 is not on PATH" : false,
  }, () => {
    const r = spawnSync(PY as string, ["-c", LIST], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const names = JSON.parse(r.stdout) as string[];
    assert.ok(names.length > 300, `Python lists ${names.length} names`);
    const patterns = tableRows().flatMap((row) => row.python);
    const missing = names.filter((n) => !patterns.some((p) => covers(p, n)));
    assert.deepEqual(missing, [], "names of Python's with no row");
  });

  it("names only what socketkit has", async () => {
    const entries = await Promise.all([
      import("../src/index.ts"),
      import("../src/server/index.ts"),
      import("../src/select/index.ts"),
    ]);
    const exports = Object.assign({}, ...entries) as Record<string, unknown>;
    const problems: string[] = [];
    for (const { ours, row } of tableRows()) {
      for (const token of ours) {
        // Functions and members (`name()`, `Class.member`) and classes and constants
        // (capitalised); a lower-case word alone is an option's name.
        if (!/\(\)$|\.|^[A-Z]/.test(token)) continue;
        const name = token.replace(/\(\)$/, "");
        if (!/^[A-Za-z_][\w.]*$/.test(name)) continue;
        const [owner, member] = name.split(".");
        const value = exports[owner as string];
        if (value === undefined) {
          // Types (TCPServerOptions, GetaddrinfoOptions) are checked by the compiler.
          if (!/Options$/.test(name)) problems.push(`${name} (in: ${row.slice(0, 60)})`);
          continue;
        }
        if (member === undefined) continue;
        const cls = value as { prototype?: object } & Record<string, unknown>;
        const has =
          member in cls ||
          (cls.prototype !== undefined && member in cls.prototype) ||
          INSTANCE_FIELDS.has(member);
        if (!has) problems.push(`${name} (in: ${row.slice(0, 60)})`);
      }
    }
    assert.deepEqual(problems, [], "names the table gives that socketkit lacks");
  });
});

/** Fields set on each instance (so not on the prototype) that rows name. */
const INSTANCE_FIELDS = new Set(["family", "type", "proto", "rfile", "wfile", "timeout"]);
