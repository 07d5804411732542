/**
 * Examples that cannot rot: every ```ts block of the README and every `@example` of the
 * TSDoc under src/ is a module of its own that must type-check, strictly, against the
 * source (here, quickly, every one of them) and against the package as it is published
 * (test/integration/package.test.ts, those that import only the package). The README's
 * examples import from `socketkit`, never from a relative path.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  allExamples,
  anchored,
  CONSUMER_OPTIONS,
  docExamples,
  importsOf,
  markdownBlocks,
  PUBLIC,
  TSC,
} from "./helpers/examples.ts";
import { tempDir } from "./helpers/net.ts";
import { ROOT } from "./helpers/proc.ts";

describe("examples", () => {
  it("finds every block: fenced, in comments, up to the next tag", () => {
    const md = "text\n```ts\nconst a = 1;\n```\n```sh\nls\n```\n```ts\nconst b = 2;\n```\n";
    assert.deepEqual(markdownBlocks(md), [
      { line: 3, code: "const a = 1;" },
      { line: 9, code: "const b = 2;" },
    ]);
    const src = [
      "/**",
      " * Does it.",
      " *",
      " * @example",
      " * ```ts",
      ' * import { x } from "./x.ts";',
      " * x();",
      " * ```",
      " * @returns nothing",
      " */",
      "/** @example y(); */",
    ].join("\n");
    assert.deepEqual(docExamples(src), [
      { line: 4, code: 'import { x } from "./x.ts";\nx();' },
      { line: 11, code: "y();" },
    ]);
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const fences = readme.split("\n").filter((l) => /^```(ts|typescript)\s*$/.test(l)).length;
    const all = allExamples(ROOT);
    assert.equal(all.filter((e) => e.where.startsWith("README.md:")).length, fences);
    assert.ok(all.length > fences + 40, `examples found in the TSDoc: ${all.length - fences}`);
  });

  it("the README's examples import only the package and Node.js", () => {
    for (const e of allExamples(ROOT).filter((e) => e.where.startsWith("README.md:"))) {
      for (const spec of importsOf(e.code)) {
        assert.match(spec, PUBLIC, `${e.where} imports ${spec}`);
      }
    }
  });

  it("every example type-checks, strictly, against the source", async (t) => {
    const dir = await tempDir(t);
    const files = join(dir, "files");
    mkdirSync(files);
    const examples = allExamples(ROOT);
    for (const e of examples) writeFileSync(join(files, e.file), `${anchored(e, ROOT)}\n`);
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    const src = (path: string) => [join(ROOT, "src", path)];
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          ...CONSUMER_OPTIONS,
          moduleDetection: "force",
          noImplicitOverride: true,
          allowImportingTsExtensions: true,
          skipLibCheck: true,
          noEmit: true,
          paths: {
            socketkit: src("index.ts"),
            "socketkit/server": src("server/index.ts"),
            "socketkit/select": src("select/index.ts"),
          },
        },
        include: ["files"],
      }),
    );
    const r = spawnSync(process.execPath, [TSC, "-p", "."], { cwd: dir, encoding: "utf8" });
    // Name each failing example by where it is written, not by its temporary file.
    const byFile = new Map(examples.map((e) => [e.file, e.where]));
    const report = r.stdout.replace(/files\/([^(\s]+)\((\d+),\d+\)/g, (_m, f: string, l) => {
      return `${byFile.get(f) ?? f} (line ${l} of the example)`;
    });
    assert.equal(r.status, 0, `examples that do not compile:\n${report}${r.stderr}`);
  });
});
