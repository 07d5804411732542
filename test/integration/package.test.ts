/**
 * The package as a user gets it: packed by `npm pack` (which builds dist/ and the prebuilt
 * addon, prebuilds/), installed from the tarball into a new project with `--omit=dev` and
 * `--ignore-scripts` (no build on the user's side, as where npm runs no install scripts),
 * a TypeScript consumer compiled with `strict` and `skipLibCheck: false` against the
 * package's own types, then run with no compiler on PATH: the library (a TCP round trip
 * over 127.0.0.1, and a Unix datagram socket, which needs the addon: it must come from the
 * prebuild) and `npx socketkit`. Runs on whichever Node.js runs the suite, so on every
 * line `npm run test:node-lines` tests.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { describe, it } from "node:test";
import { allExamples, CONSUMER_OPTIONS, importsOf, PUBLIC, TSC } from "../helpers/examples.ts";
import { tempDir } from "../helpers/net.ts";
import { ROOT } from "../helpers/proc.ts";

const npm = spawnSync("npm", ["--version"], { encoding: "utf8" });
const skip =
  npm.status !== 0
    ? "npm is not on PATH"
    : process.platform !== "linux"
      ? "the prebuilt addon is made for Linux here"
      : false;

/** Node's own headers next to this Node.js, for node-gyp without a download. */
function nodedir(): Record<string, string> {
  const prefix = join(dirname(process.execPath), "..");
  return existsSync(join(prefix, "include", "node", "node.h"))
    ? { npm_config_nodedir: prefix }
    : {};
}

/** Runs a command; fails the test with its output when it fails. */
function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(command, args, { cwd, env, encoding: "utf8", timeout: 600_000 });
  assert.equal(
    r.status,
    0,
    `${command} ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`,
  );
  return r.stdout;
}

const CONSUMER = `import {
  AF_UNIX,
  createConnection,
  createServer,
  hasNative,
  SOCK_DGRAM,
  socket,
  type Socket,
} from "socketkit";

const server = await createServer(["127.0.0.1", 0]);
const port: number = server.getsockname()[1] as number;
const serving = (async () => {
  const [conn]: [Socket, unknown] = await server.accept();
  await conn.sendall(Buffer.from((await conn.recv(1024)).toString().toUpperCase()));
  await conn.close();
})();
const client = await createConnection(["127.0.0.1", port]);
await client.sendall("hello");
const reply = (await client.recv(1024)).toString();
await serving;
await client.close();
await server.close();

// Needs the addon: with no compiler anywhere, it comes from the prebuild.
const dgram = socket(AF_UNIX, SOCK_DGRAM);
await dgram.bind("\\0socketkit-package-test-" + process.pid);
const name = dgram.getsockname();
await dgram.close();
console.log(JSON.stringify({ reply, native: hasNative(), name }));
`;

describe("the package", { skip }, () => {
  it("packs, installs without scripts or a compiler, type-checks strictly and runs, library and CLI", {
    timeout: 900_000,
  }, async (t) => {
    const dir = await tempDir(t);
    const env = { ...process.env, ...nodedir() };
    // Packed from a copy: packing builds dist/ and prebuilds/, which the other tests
    // running meanwhile must not see change under them.
    const source = join(dir, "source");
    const root = ROOT.replace(/\/$/, "");
    const left = new Set(["node_modules", "dist", "build", "prebuilds", ".nodes", ".git"]);
    cpSync(root, source, {
      recursive: true,
      filter: (path) => dirname(path) !== root || !left.has(basename(path)),
    });
    symlinkSync(join(root, "node_modules"), join(source, "node_modules"));
    run("npm", ["pack", "--silent", "--pack-destination", dir], source, env);
    const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz"));
    assert.ok(tarball, "npm pack made a tarball");
    const listing = run("tar", ["-tzf", join(dir, tarball)], dir);
    assert.match(listing, /package\/prebuilds\/linux-x64\/[^\n]*\.node/);
    assert.match(listing, /package\/dist\/index\.d\.ts/);
    for (const file of ["index.html", "chat.css", "chat.js", "text.js"]) {
      assert.match(listing, new RegExp(`package/web/chat/${file.replace(".", "\\.")}\n`), file);
    }

    const project = join(dir, "consumer");
    mkdirSync(project);
    writeFileSync(
      join(project, "package.json"),
      JSON.stringify({ name: "consumer", private: true, type: "module" }),
    );
    run(
      "npm",
      ["install", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", join(dir, tarball)],
      project,
    );
    writeFileSync(join(project, "main.ts"), CONSUMER);
    writeFileSync(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { ...CONSUMER_OPTIONS, skipLibCheck: false, outDir: "out" },
        files: ["main.ts"],
      }),
    );
    run(process.execPath, [TSC, "-p", "."], project);

    // The README's and the TSDoc's examples, against the package's own types.
    const published = allExamples(ROOT).filter((e) =>
      importsOf(e.code).every((spec) => PUBLIC.test(spec)),
    );
    assert.ok(published.length >= 30, `examples of the package: ${published.length}`);
    mkdirSync(join(project, "examples"));
    for (const e of published) {
      writeFileSync(join(project, "examples", e.file), `// ${e.where}\n${e.code}\n`);
    }
    writeFileSync(
      join(project, "tsconfig.examples.json"),
      JSON.stringify({
        extends: "./tsconfig.json",
        compilerOptions: { noEmit: true, moduleDetection: "force" },
        files: [],
        include: ["examples"],
      }),
    );
    run(process.execPath, [TSC, "-p", "tsconfig.examples.json"], project);

    // No compiler and no node-gyp to be found: the addon can only be the prebuilt one.
    const bare = { PATH: dirname(process.execPath), HOME: process.env.HOME ?? dir };
    const out = run(process.execPath, [join("out", "main.js")], project, bare);
    const result = JSON.parse(out) as { reply: string; native: boolean; name: string };
    assert.equal(result.reply, "HELLO");
    assert.equal(result.native, true, "the prebuilt addon loads");
    assert.match(result.name, /^\0socketkit-package-test-/);

    const version = run(
      process.execPath,
      [join(project, "node_modules", "socketkit", "dist", "cli", "main.js"), "--version"],
      project,
      bare,
    );
    assert.match(version, /^\d+\.\d+\.\d+\n$/);
    const npx = run("npx", ["--no-install", "socketkit", "--version"], project);
    assert.equal(npx, version);

    // The chat's web page, found by the installed dist/ in the package's web/.
    const chat = spawn(
      process.execPath,
      [
        join(project, "node_modules", "socketkit", "dist", "cli", "main.js"),
        ...["chat", "serve", "--port", "0", "--web-port", "0"],
      ],
      { cwd: project, env: bare, stdio: ["ignore", "ignore", "pipe"] },
    );
    t.after(() => chat.kill());
    let said = "";
    const url = await new Promise<string>((resolve, reject) => {
      chat.stderr.on("data", (chunk: Buffer) => {
        said += chunk.toString();
        const m = /or in a browser: (\S+)/.exec(said);
        if (m !== null) resolve(m[1] as string);
      });
      chat.once("exit", () => reject(new Error(`chat serve exited: ${said}`)));
    });
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /role="log"/);
    chat.kill();
  });
});
