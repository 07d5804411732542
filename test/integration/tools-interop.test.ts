/**
 * socketkit with the tools people use instead: socat and ncat as clients of
 * `socketkit serve` and as servers for `socketkit connect`. Each test skips, saying why,
 * when its tool is not installed (`.ci/run` installs them where it can).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { describe, it } from "node:test";
import { closedPort } from "../helpers/net.ts";
import { listening, type Program, portOf, socketkit, start } from "../helpers/proc.ts";

function tool(name: string): string | false {
  return spawnSync(name, ["-V"]).error === undefined
    ? false
    : `${name} is not installed (apt-get install -y ${name})`;
}
const noSocat = tool("socat");
const noNcat = tool("ncat");

const cli = socketkit;

/** Waits for a line matching `pattern` on the program's stderr (at most 20 s). */
async function stderrLine(p: Program, pattern: RegExp): Promise<void> {
  const deadline = AbortSignal.timeout(20_000);
  while (!pattern.test(p.stderr())) {
    if (p.child.exitCode !== null) throw new Error(`Exited early: ${p.stderr()}`);
    await once(p.child.stderr as NodeJS.ReadableStream, "data", { signal: deadline });
  }
}

describe("socat", { skip: noSocat }, () => {
  it("as a client of socketkit serve echo gets 1 MB of binary back exactly", async () => {
    const server = cli(["serve", "echo"]);
    try {
      const port = portOf(await listening(server));
      const payload = randomBytes(1024 * 1024);
      const client = start("socat", ["-t", "5", "-", `TCP:127.0.0.1:${port}`], { stdin: payload });
      assert.equal(await client.exited, 0, client.stderr());
      assert.ok(client.stdout().equals(payload));
    } finally {
      await server.stop();
    }
  });

  it("as an echo server for socketkit connect returns 1 MB of binary exactly", async () => {
    const port = await closedPort();
    const server = start("socat", [
      "-d",
      "-d",
      `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`,
      "EXEC:cat",
    ]);
    try {
      await stderrLine(server, /listening on/);
      const payload = randomBytes(1024 * 1024);
      const client = cli(["connect", "127.0.0.1", String(port)], payload);
      assert.equal(await client.exited, 0, client.stderr());
      assert.ok(client.stdout().equals(payload));
    } finally {
      await server.stop();
    }
  });
});

describe("ncat", { skip: noNcat }, () => {
  it("as a client of socketkit serve command gets its answers", async () => {
    const server = cli(["serve", "command"]);
    try {
      const port = portOf(await listening(server));
      const client = start("ncat", ["127.0.0.1", port], { stdin: "echo from ncat\nquit\n" });
      assert.equal(await client.exited, 0, client.stderr());
      assert.match(client.stdout().toString(), /> from ncat\r\n> bye\r\n$/);
    } finally {
      await server.stop();
    }
  });

  it("as a listener receives what socketkit connect sends", async () => {
    const port = await closedPort();
    const server = start("ncat", ["-v", "-l", "127.0.0.1", String(port)]);
    try {
      await stderrLine(server, /Listening on/);
      const client = cli(["connect", "127.0.0.1", String(port)], "hello ncat\n");
      assert.equal(await client.exited, 0, client.stderr());
      assert.equal(await server.exited, 0, server.stderr());
      assert.equal(server.stdout().toString(), "hello ncat\n");
    } finally {
      await server.stop();
    }
  });
});
