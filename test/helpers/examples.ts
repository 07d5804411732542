/**
 * The examples users copy: every `ts` block of the README and every `@example` of the TSDoc
 * under src/, each as a module of its own, so that they can be type-checked against the
 * package as it is published (see test/integration/package.test.ts).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { ROOT } from "./proc.ts";

/** The TypeScript compiler of the checkout, run by `node` so it needs nothing on PATH. */
export const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");

/**
 * The compiler options of a strict consumer of socketkit, as the examples and the package
 * test compile: Node.js's module system, `strict` and `noUncheckedIndexedAccess`, and the
 * checkout's `@types/node`.
 */
export const CONSUMER_OPTIONS = {
  target: "ES2022",
  lib: ["ES2022", "ESNext.Disposable"],
  module: "NodeNext",
  moduleResolution: "NodeNext",
  strict: true,
  noUncheckedIndexedAccess: true,
  typeRoots: [join(ROOT, "node_modules", "@types")],
  types: ["node"],
};

/** What a published example may import: the package's entry points and Node.js. */
export const PUBLIC = /^(socketkit|socketkit\/server|socketkit\/select|node:.+)$/;

export interface Example {
  /** Where it comes from, `README.md:123` or `src/socket/socket.ts:145`. */
  where: string;
  /** A file name for it, unique in the set. */
  file: string;
  code: string;
}

/** The ```ts blocks of a Markdown text, with the line each starts on. */
export function markdownBlocks(text: string): { line: number; code: string }[] {
  const blocks: { line: number; code: string }[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i] ?? "")) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end] ?? "")) end++;
    blocks.push({ line: start + 1, code: lines.slice(start, end).join("\n") });
    i = end;
  }
  return blocks;
}

/**
 * The `@example` sections of the TSDoc comments of a source file: the text up to the next
 * tag or the comment's end, with the comment's `*` margin taken off; the code inside a
 * ```ts fence when there is one, else the whole section.
 */
export function docExamples(source: string): { line: number; code: string }[] {
  const found: { line: number; code: string }[] = [];
  for (const comment of source.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const lines = comment[0].split("\n").map((l) => l.replace(/^\s*\/?\*\*?\/?\s?/, ""));
    const first = source.slice(0, comment.index).split("\n").length;
    for (let i = 0; i < lines.length; i++) {
      if (!/^@example\b/.test(lines[i] ?? "")) continue;
      let end = i + 1;
      while (end < lines.length && !/^@\w/.test(lines[end] ?? "")) end++;
      // The text after the tag on its own line (a one-line comment's), then the lines after.
      const rest = (lines[i] ?? "").replace(/^@example\s*/, "").replace(/\s*\*\/\s*$/, "");
      const body = [rest, ...lines.slice(i + 1, end)].join("\n");
      const fenced = /```(?:ts|typescript)?\n([\s\S]*?)```/.exec(body);
      const code = (fenced ? (fenced[1] ?? "") : body).trim();
      found.push({ line: first + i, code });
      i = end - 1;
    }
  }
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") ? [path] : [];
  });
}

/** Every example of the README and of the TSDoc under src/, in a stable order. */
export function allExamples(root: string): Example[] {
  const examples: Example[] = [];
  const add = (path: string, line: number, code: string) => {
    const where = `${relative(root, path)}:${line}`;
    const file = `${where.replace(/[^A-Za-z0-9]+/g, "-")}.ts`;
    examples.push({ where, file, code });
  };
  const readme = join(root, "README.md");
  for (const b of markdownBlocks(readFileSync(readme, "utf8"))) add(readme, b.line, b.code);
  for (const path of sourceFiles(join(root, "src")).sort()) {
    for (const e of docExamples(readFileSync(path, "utf8"))) add(path, e.line, e.code);
  }
  return examples;
}

/** The module specifiers an example imports. */
export function importsOf(code: string): string[] {
  return [...code.matchAll(/\bfrom\s+["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']/g)].map(
    (m) => m[1] ?? m[2] ?? "",
  );
}

/**
 * The example with its relative imports made absolute, from the folder of the file it is
 * in, so that it compiles wherever it is written.
 */
export function anchored(example: Example, root: string): string {
  const from = join(root, example.where.replace(/:\d+$/, ""), "..");
  return example.code.replace(
    /(\bfrom\s+|\bimport\s*\(\s*)(["'])(\.\.?\/[^"']+)\2/g,
    (_m, head: string, q: string, spec: string) => `${head}${q}${join(from, spec)}${q}`,
  );
}
