/**
 * examples/select-chat-server.ts (socketkit/select) with the tutorials' own Python chat
 * client, test/fixtures/seeds/reply_client.py: several clients at once, each typed into
 * line by line. reply_client waits for one answer after each line it sends, so what the
 * others said reaches it with its next answer; the conversation is ordered so that every
 * reply checked is known (a client's buffer is empty when it speaks, or holds exactly
 * the broadcasts it has not read yet).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  example,
  listening,
  outputFrom,
  type Program,
  portOf,
  python3,
  seed,
  within,
} from "../helpers/proc.ts";

const skip = python3()
  ? false
  : "python3 is not installed: the tutorials' reply_client.py talks to the select chat server";

const MARK = "Received from server: ";

/** A reply_client.py connected to the server, its standard input still open. */
class ChatClient {
  readonly program: Program;
  #replies = 0;

  constructor(port: string) {
    this.program = seed("reply_client", [port, "127.0.0.1"]);
  }

  /** Types `line` and resolves with the answer the client prints for it. */
  async say(line: string): Promise<string> {
    this.program.child.stdin?.write(`${line}\n`);
    const n = ++this.#replies;
    // The answer is printed whole once the next prompt follows it.
    await outputFrom(this.program, (out) => (out.split(MARK)[n] ?? "").includes(" -> "));
    const part = this.program.stdout().toString().split(MARK)[n] as string;
    return part.slice(0, part.lastIndexOf(" -> ")).replace(/\n+$/, "");
  }

  /** Types `bye` (not sent: the client closes) and resolves with the exit code. */
  bye(): Promise<number | null> {
    this.program.child.stdin?.end("bye\n");
    return within(this.program, 10_000);
  }
}

/** The port of the n-th (1-based) client the server printed as `connected`. */
async function connected(server: Program, n: number): Promise<number> {
  const line = /Client \(127\.0\.0\.1, (\d+)\) connected/g;
  await outputFrom(server, (out) => (out.match(line) ?? []).length >= n);
  const ports = [...server.stdout().toString().matchAll(line)].map((m) => Number(m[1]));
  return ports[n - 1] as number;
}

function offline(server: Program, port: number): Promise<void> {
  return outputFrom(server, (out) => out.includes(`Client (127.0.0.1, ${port}) is offline`));
}

describe("examples/select-chat-server.ts with the tutorials' reply_client.py", { skip }, () => {
  it("each client gets its own line back, the others get it with their next answer, bye leaves cleanly, and a client that vanishes leaves the server serving", {
    timeout: 90_000,
  }, async () => {
    const server = example("select-chat-server", ["0", "127.0.0.1"]);
    const clients: ChatClient[] = [];
    let port = "";
    const join = async (n: number) => {
      const c = new ChatClient(port);
      clients.push(c);
      return [c, await connected(server, n)] as const;
    };
    try {
      port = portOf(await listening(server));
      assert.match(
        server.stdout().toString(),
        new RegExp(`^Chat server started on port ${port}\n`),
      );

      const [a, portA] = await join(1);
      assert.equal(await a.say("hello from A"), "[you] hello from A");

      const [b, portB] = await join(2);
      assert.equal(await b.say("hi from B"), "[you] hi from B");
      // A's answer starts with what came while it waited at its prompt: B joining, B's line.
      const news = await a.say("anyone there?");
      assert.match(
        news,
        new RegExp(
          `^\\[127\\.0\\.0\\.1:${portB}\\] entered our chatting room\n\\[127\\.0\\.0\\.1:${portB}\\] hi from B(\n|$)`,
        ),
      );

      // C speaks, then B's next line waits unread in C's socket when C is killed: C's
      // kernel resets the connection, which the server must take in its stride.
      const [c, portC] = await join(3);
      assert.equal(await c.say("I will vanish"), "[you] I will vanish");
      assert.match(
        await b.say("still here"),
        new RegExp(`^\\[127\\.0\\.0\\.1:${portA}\\] anyone there\\?(\n|$)`),
      );
      c.program.child.kill("SIGKILL");
      await c.program.exited;
      await offline(server, portC);

      // A newcomer is served as the first was.
      const [d, portD] = await join(4);
      assert.equal(await d.say("ping"), "[you] ping");

      for (const [client, p] of [
        [a, portA],
        [b, portB],
        [d, portD],
      ] as const) {
        assert.equal(await client.bye(), 0, client.program.stderr());
        await offline(server, p);
      }
      assert.equal(server.child.exitCode, null, `the server is still up: ${server.stderr()}`);
      assert.equal(server.stderr(), `listening on 127.0.0.1:${port}\n`);
    } finally {
      for (const c of clients) await c.program.stop();
      await server.stop();
    }
  });
});
