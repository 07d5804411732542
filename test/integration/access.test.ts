/**
 * `--allow` and `--deny` on every server command, run as child processes: a refused
 * client is closed without a byte and logged once, however often it comes back; an
 * allowed one is served. Every server binds its default address, so each test also shows
 * that the default is loopback.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { connect as tlsConnect } from "node:tls";
import {
  AF_INET,
  BlockingIOError,
  ConnectionResetError,
  createConnection,
  SHUT_WR,
  SOCK_DGRAM,
  socket,
} from "../../src/index.ts";
import { ipv6LoopbackWorks, tempDir, until } from "../helpers/net.ts";
import { errorOutputFrom, listening, type Program, portOf, socketkit } from "../helpers/proc.ts";

const T = { timeout: 25_000 };
const REFUSED = /^refused (\S+) \((denied|not allowed)\)$/;

/** A running `socketkit ARGS...`, stopped by pid when the test ends. */
interface Server {
  program: Program;
  host: string;
  port: number;
  /** Stops it and resolves with its `refused ...` lines, once all its output is read. */
  refusals: () => Promise<string[]>;
}

async function server(t: TestContext, args: string[], stdin?: string): Promise<Server> {
  const program = socketkit(args, stdin);
  t.after(() => program.stop());
  const where = await listening(program);
  const host = where.slice(0, where.lastIndexOf(":")).replace(/^\[|\]$/g, "");
  const refusals = async () => {
    await program.stop();
    return program
      .stderr()
      .split("\n")
      .filter((line) => line.startsWith("refused "));
  };
  return { program, host, port: Number(portOf(where)), refusals };
}

/** Connects, sends `data` (if any) and half-closes, and reads until the server closes. */
async function exchange(host: string, port: number, data?: string): Promise<Buffer> {
  await using c = await createConnection([host, port], { timeout: 5 });
  c.settimeout(5);
  if (data !== undefined) await c.sendall(data);
  c.shutdown(SHUT_WR);
  const parts: Buffer[] = [];
  try {
    for (let d = await c.recv(65536); d.length > 0; d = await c.recv(65536)) parts.push(d);
  } catch (err) {
    // A close with the client's bytes unread is a reset: still no bytes from the server.
    if (!(err instanceof ConnectionResetError)) throw err;
  }
  return Buffer.concat(parts);
}

/** The first bytes the server sends on a new connection. */
async function greeting(host: string, port: number): Promise<Buffer> {
  await using c = await createConnection([host, port], { timeout: 5 });
  c.settimeout(5);
  return await c.recv(65536);
}

/** Three connections from 127.0.0.1, each closed without a byte; one log line for them. */
async function refusesThreeTimes(s: Server, reason: string, data?: string): Promise<void> {
  assert.equal(s.host, "127.0.0.1", "the default address is loopback");
  for (let i = 0; i < 3; i++) {
    assert.equal((await exchange("127.0.0.1", s.port, data)).length, 0, `connection ${i + 1}`);
  }
  const lines = await s.refusals();
  assert.equal(lines.length, 1, lines.join("\n"));
  const [, who, why] = REFUSED.exec(lines[0] as string) ?? [];
  assert.match(who ?? "", /^127\.0\.0\.1:\d+$/);
  assert.equal(why, reason);
}

/** A UDP socket closed when the test ends. */
function udpClient(t: TestContext) {
  const c = socket(AF_INET, SOCK_DGRAM);
  c.settimeout(5);
  t.after(() => c.close());
  return c;
}

/** Three datagrams from one client dropped: no reply, one log line. */
async function dropsDatagrams(t: TestContext, s: Server, reason: string): Promise<void> {
  assert.equal(s.host, "127.0.0.1", "the default address is loopback");
  const c = udpClient(t);
  for (let i = 0; i < 3; i++) await c.sendto(`ping ${i}`, ["127.0.0.1", s.port]);
  await errorOutputFrom(s.program, (err) => /^refused /m.test(err));
  c.settimeout(0);
  await assert.rejects(c.recvfrom(100), BlockingIOError, "nothing came back");
  assert.equal(s.program.stdout().length, 0, "nothing was taken in");
  const lines = await s.refusals();
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(lines[0] as string, new RegExp(`^refused 127\\.0\\.0\\.1:\\d+ \\(${reason}\\)$`));
}

const SERVED = ["--allow", "127.0.0.1", "--deny", "10.0.0.0/8"];

describe("--allow and --deny on every server command", { concurrency: true }, () => {
  it("listen: a denied client gets none of the input, and is logged once", T, async (t) => {
    const s = await server(t, ["listen", "0", "--deny", "127.0.0.1"], "secret\n");
    await refusesThreeTimes(s, "denied");
  });

  it("listen: an allowed client gets the input", T, async (t) => {
    const s = await server(t, ["listen", "0", ...SERVED], "hello\n");
    assert.equal((await exchange(s.host, s.port)).toString(), "hello\n");
  });

  it("listen --keep-open: refused clients do not take a session", T, async (t) => {
    const s = await server(t, ["listen", "0", "--keep-open", "--allow", "10.0.0.0/8"], "x\n");
    await refusesThreeTimes(s, "not allowed", "data that must not come out");
    assert.equal(s.program.stdout().length, 0);
  });

  it("listen --udp: datagrams from a refused peer are dropped", T, async (t) => {
    const s = await server(t, ["listen", "0", "--udp", "--deny", "127.0.0.1"]);
    await dropsDatagrams(t, s, "denied");
  });

  it("listen --udp: datagrams from an allowed peer come out", T, async (t) => {
    const s = await server(t, ["listen", "0", "--udp", ...SERVED]);
    await udpClient(t).sendto("ping", [s.host, s.port]);
    await until(() => s.program.stdout().toString() === "ping", "the datagram on stdout", 10_000);
  });

  it("serve echo: a client not allowed is closed without its echo", T, async (t) => {
    const s = await server(t, ["serve", "echo", "--allow", "10.0.0.0/8"]);
    await refusesThreeTimes(s, "not allowed");
  });

  it("serve echo: an allowed client is served", T, async (t) => {
    const s = await server(t, ["serve", "echo", ...SERVED]);
    assert.equal((await exchange(s.host, s.port, "hello")).toString(), "hello");
  });

  it("serve echo --tls: a denied client is closed before its handshake", T, async (t) => {
    const s = await server(t, ["serve", "echo", "--tls-self-signed", "--deny", "127.0.0.1"]);
    for (let i = 0; i < 3; i++) {
      const c = tlsConnect({ host: "127.0.0.1", port: s.port, rejectUnauthorized: false });
      const outcome = await new Promise<string>((resolve) => {
        c.on("secureConnect", () => resolve("handshake"));
        c.on("error", () => resolve("refused"));
        c.on("close", () => resolve("refused"));
      });
      c.destroy();
      assert.equal(outcome, "refused", `connection ${i + 1} got no TLS handshake`);
    }
    const lines = await s.refusals();
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0] as string, /^refused 127\.0\.0\.1:\d+ \(denied\)$/);
  });

  it("serve echo --udp: a denied peer gets no reply; an allowed one does", T, async (t) => {
    const denied = await server(t, ["serve", "echo", "--udp", "--deny", "127.0.0.1"]);
    const allowed = await server(t, ["serve", "echo", "--udp", ...SERVED]);
    const c = udpClient(t);
    await c.sendto("ping", [allowed.host, allowed.port]);
    assert.equal((await c.recvfrom(100))[0].toString(), "ping");
    await dropsDatagrams(t, denied, "denied");
  });

  it("serve echo --workers 2: every worker refuses and serves by the flags", T, async (t) => {
    const refusing = await server(t, ["serve", "echo", "--workers", "2", "--deny", "127.0.0.1"]);
    const serving = await server(t, ["serve", "echo", "--workers", "2", ...SERVED]);
    assert.equal((await exchange(serving.host, serving.port, "hello")).toString(), "hello");
    for (let i = 0; i < 3; i++)
      assert.equal((await exchange("127.0.0.1", refusing.port)).length, 0);
    const lines = await refusing.refusals();
    // Each worker process logs a refused host once.
    assert.ok(lines.length >= 1 && lines.length <= 2, lines.join("\n"));
    for (const line of lines) assert.match(line, /^refused 127\.0\.0\.1:\d+ \(denied\)$/);
  });

  it("chat serve: a refused client gets no welcome; an allowed one does", T, async (t) => {
    const refusing = await server(t, ["chat", "serve", "--port", "0", "--deny", "127.0.0.1"]);
    const serving = await server(t, ["chat", "serve", "--port", "0", ...SERVED]);
    assert.match((await greeting(serving.host, serving.port)).toString(), /Welcome/);
    await refusesThreeTimes(refusing, "denied");
  });

  it("receive: a refused sender is closed at once and the receiver waits on", T, async (t) => {
    const dir = await tempDir(t);
    const s = await server(t, ["receive", "--dir", dir, "--allow", "10.0.0.0/8"]);
    assert.equal(s.host, "127.0.0.1");
    for (let i = 0; i < 3; i++) assert.equal((await exchange(s.host, s.port)).length, 0);
    assert.equal(s.program.child.exitCode, null, "still waiting for an allowed sender");
    const lines = await s.refusals();
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0] as string, /^refused 127\.0\.0\.1:\d+ \(not allowed\)$/);
  });

  it("receive and share: allowed peers transfer", T, async (t) => {
    const dir = await tempDir(t);
    mkdirSync(join(dir, "in"));
    mkdirSync(join(dir, "out"));
    writeFileSync(join(dir, "a.txt"), "over the door\n");
    const receiving = await server(t, ["receive", "--dir", join(dir, "in"), ...SERVED]);
    const sender = socketkit(["send", join(dir, "a.txt"), "--to", `127.0.0.1:${receiving.port}`]);
    t.after(() => sender.stop());
    assert.equal(await sender.exited, 0, sender.stderr());
    assert.equal(readFileSync(join(dir, "in", "a.txt"), "utf8"), "over the door\n");

    const sharing = await server(t, ["share", join(dir, "a.txt"), ...SERVED]);
    const fetcher = socketkit([
      "fetch",
      "127.0.0.1",
      String(sharing.port),
      "--dir",
      join(dir, "out"),
    ]);
    t.after(() => fetcher.stop());
    assert.equal(await fetcher.exited, 0, fetcher.stderr());
    assert.equal(readFileSync(join(dir, "out", "a.txt"), "utf8"), "over the door\n");
  });

  it("share: a denied fetcher gets none of the files", T, async (t) => {
    const dir = await tempDir(t);
    writeFileSync(join(dir, "a.txt"), "private\n");
    const s = await server(t, ["share", join(dir, "a.txt"), "--deny", "127.0.0.0/8"]);
    await refusesThreeTimes(s, "denied");
  });

  it("a Unix socket with --allow or --deny, or a bad entry, is a usage error", T, async (t) => {
    const dir = await tempDir(t);
    const runs = [
      socketkit(["listen", "--unix", join(dir, "a.sock"), "--deny", "127.0.0.1"]),
      socketkit(["serve", "echo", "--unix", join(dir, "b.sock"), "--allow", "::1"]),
      socketkit(["serve", "echo", "--allow", "127.0.0.1,10.0.0.0/33"]),
    ];
    for (const run of runs) t.after(() => run.stop());
    const codes = await Promise.all(runs.map((run) => run.exited));
    assert.deepEqual(codes, [2, 2, 2]);
    assert.match(runs[0]?.stderr() ?? "", /--allow and --deny take IP addresses/);
    assert.match(runs[2]?.stderr() ?? "", /Invalid --allow entry '10\.0\.0\.0\/33'/);
  });
});

const skip = (await ipv6LoopbackWorks()) ? false : "IPv6 loopback (::1) is not available here";

describe("--deny ::1", { concurrency: true }, () => {
  it("refuses a ::1 client", { ...T, skip }, async (t) => {
    const s = await server(t, ["serve", "echo", "--host", "::1", "--deny", "::1"]);
    assert.equal(s.host, "::1");
    for (let i = 0; i < 2; i++) assert.equal((await exchange("::1", s.port, "hi")).length, 0);
    const lines = await s.refusals();
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0] as string, /^refused \[::1\]:\d+ \(denied\)$/);
  });

  it("still serves 127.0.0.1, and ::1 where it is allowed", { ...T, skip }, async (t) => {
    const v4 = await server(t, ["serve", "echo", "--deny", "::1"]);
    const v6 = await server(t, [
      "serve",
      "echo",
      "--host",
      "::1",
      "--allow",
      "::1",
      "--deny",
      "127.0.0.1",
    ]);
    assert.equal((await exchange("127.0.0.1", v4.port, "v4")).toString(), "v4");
    assert.equal((await exchange("::1", v6.port, "v6")).toString(), "v6");
    assert.deepEqual(await Promise.all([v4.refusals(), v6.refusals()]), [[], []]);
  });
});
