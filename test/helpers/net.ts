/**
 * Helpers for the unit tests of the socket layer: loopback servers on port 0 that close
 * when the test ends, waiting for a condition (never for a fixed time), temporary
 * directories for Unix sockets, python3 peers, and a listener whose accept queue is full
 * (for connect timeouts).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import {
  type Socket as NetSocket,
  connect as netConnect,
  createServer as netCreateServer,
  type Server,
} from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, type TestContext } from "node:test";
import {
  type Address,
  AF_INET,
  AF_INET6,
  SOCK_STREAM,
  type Socket,
  type SocketOptions,
  socket,
} from "../../src/index.ts";
import { kStream } from "../../src/socket/internal.ts";

/** Anything with a `close()` (sockets, servers, readers). */
interface Closable {
  close(): unknown;
}

/** Registers `thing.close()` to run when the test ends, and returns the thing. */
export function closing<T extends Closable>(t: TestContext, thing: T): T {
  t.after(async () => {
    await thing.close();
  });
  return thing;
}

/** The port of an IP socket address. */
export function portOf(address: unknown): number {
  assert.ok(Array.isArray(address), `expected an IP address tuple, got ${String(address)}`);
  const port = address[1];
  assert.equal(typeof port, "number");
  return port as number;
}

/** A socketkit stream socket bound and listening on `host:0` (127.0.0.1 by default). */
export async function listener(
  t: TestContext,
  options: { family?: number; host?: string; socketOptions?: SocketOptions } = {},
): Promise<{ server: Socket; port: number }> {
  const family = options.family ?? AF_INET;
  const host = options.host ?? (family === AF_INET6 ? "::1" : "127.0.0.1");
  const server = closing(t, socket(family, SOCK_STREAM, 0, options.socketOptions ?? {}));
  await server.bind([host, 0]);
  server.listen(5);
  return { server, port: portOf(server.getsockname()) };
}

/** A connected pair over 127.0.0.1: `client` (connected) and `conn` (accepted). */
export async function tcpPair(
  t: TestContext,
  options: { client?: SocketOptions; server?: SocketOptions } = {},
): Promise<{ server: Socket; client: Socket; conn: Socket; port: number }> {
  const { server, port } = await listener(t, { socketOptions: options.server ?? {} });
  const client = closing(t, socket(AF_INET, SOCK_STREAM, 0, options.client ?? {}));
  await client.connect(["127.0.0.1", port]);
  const [conn] = await server.accept();
  closing(t, conn);
  return { server, client, conn, port };
}

/** Everything `s` receives until end of stream, read with `recv(bufsize)`. */
export async function recvAll(s: Socket, bufsize = 65536): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (;;) {
    const chunk = await s.recv(bufsize);
    if (chunk.length === 0) return Buffer.concat(parts);
    parts.push(chunk);
  }
}

/** Everything a Node socket receives until it ends. */
export async function netReadAll(s: NetSocket): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of s) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/**
 * Waits until `condition()` holds, checking on every turn of the event loop (it waits for
 * the state change, not for a guessed time); fails after `ms`.
 */
export async function until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Resolves with the error `promise` rejects with, checking its class and `code`. */
export async function rejection<E extends Error>(
  promise: Promise<unknown>,
  Class: abstract new (...args: never[]) => E,
  code: string,
): Promise<E> {
  let caught: unknown;
  await assert.rejects(promise, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof Class, `expected ${Class.name}, got ${String(caught)}`);
  assert.equal((caught as unknown as { code: string }).code, code);
  return caught as E;
}

/** Same as {@link rejection} for a function that throws synchronously. */
export function thrown<E extends Error>(
  fn: () => unknown,
  Class: abstract new (...args: never[]) => E,
  code: string,
): E {
  let caught: unknown;
  assert.throws(fn, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof Class, `expected ${Class.name}, got ${String(caught)}`);
  assert.equal((caught as unknown as { code: string }).code, code);
  return caught as E;
}

/** A fresh directory for Unix socket paths, removed when the test ends. */
export async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "socketkit-test-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A fresh directory for a whole test file, made when the file loads and removed after its
 * last test: `name` tells which file left it, should one be left.
 */
export function fileTempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `socketkit-${name}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A port on 127.0.0.1 that was listening a moment ago and now is not. */
export async function closedPort(): Promise<number> {
  const server = netCreateServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, "close");
  return port;
}

/** A Node (not socketkit) TCP server on 127.0.0.1:0, closed when the test ends. */
export async function netServer(
  t: TestContext,
  onConnection: (s: NetSocket) => void,
): Promise<{ server: Server; port: number }> {
  const server = netCreateServer({ allowHalfOpen: true }, onConnection);
  const sockets = new Set<NetSocket>();
  server.on("connection", (s: NetSocket) => {
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(async () => {
    for (const s of sockets) s.destroy();
    if (server.listening) {
      server.close();
      await once(server, "close");
    }
  });
  return { server, port: (server.address() as { port: number }).port };
}

/** Whether a TCP socket can listen on ::1 here. */
export async function ipv6LoopbackWorks(): Promise<boolean> {
  const server = netCreateServer();
  try {
    server.listen(0, "::1");
    await Promise.race([once(server, "listening"), once(server, "error")]);
    return server.listening;
  } catch {
    return false;
  } finally {
    if (server.listening) {
      server.close();
      await once(server, "close");
    }
  }
}

let pythonPath: string | null | undefined;
/** The python3 executable, or null when there is none. */
export function python3(): string | null {
  if (pythonPath === undefined) {
    const r = spawnSync("python3", ["--version"], { encoding: "utf8", timeout: 10_000 });
    pythonPath = r.status === 0 ? "python3" : null;
  }
  return pythonPath;
}

/**
 * Runs `python3 -c code` until the test ends (killed by pid then) and resolves with the
 * first line it prints on stdout.
 */
export async function pythonPeer(
  t: TestContext,
  code: string,
): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(python3() ?? "python3", ["-u", "-c", code], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  child.stdin.on("error", () => {});
  const exited = once(child, "exit");
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  });
  let out = "";
  let err = "";
  child.stderr.on("data", (c: Buffer) => {
    err += c.toString();
  });
  for await (const chunk of child.stdout) {
    out += (chunk as Buffer).toString();
    const nl = out.indexOf("\n");
    if (nl >= 0) return { child, line: out.slice(0, nl).trim() };
  }
  throw new Error(`python3 exited before printing a line: ${err}`);
}

/** Python: a listener with `listen(0)` that never accepts; prints its port. */
const NEVER_ACCEPTS = `
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(0)
print(s.getsockname()[1])
sys.stdin.read()
`;

/** Tries a Node connect for at most `ms`; true when it connected. */
function connectsWithin(t: TestContext, port: number, ms: number): Promise<boolean> {
  const s = netConnect(port, "127.0.0.1");
  s.on("error", () => {});
  t.after(() => {
    s.destroy();
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    s.once("connect", () => {
      clearTimeout(timer);
      resolve(true);
    });
    s.once("close", () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

/**
 * A python3 listener (`listen(0)`, never accepting) whose accept queue is filled with
 * connections until one no longer completes, so a further connect hangs in SYN-SENT.
 * Returns the port, or a reason to skip (no python3, or the kernel kept completing).
 */
export async function fullBacklog(t: TestContext): Promise<{ port: number } | { skip: string }> {
  if (python3() === null)
    return { skip: "python3 is not installed (needed for a never-accepting listener)" };
  const { line } = await pythonPeer(t, NEVER_ACCEPTS);
  const port = Number(line);
  for (let i = 0; i < 6; i++) {
    if (!(await connectsWithin(t, port, 400))) return { port };
  }
  return { skip: "the kernel completed every connection to a full listen(0) queue" };
}

/** Binds an address with a Node server to make it taken; closed when the test ends. */
export async function occupy(t: TestContext, address: Address): Promise<void> {
  const server = netCreateServer();
  if (typeof address === "string") server.listen(address);
  else server.listen(address[1], address[0]);
  await once(server, "listening");
  t.after(async () => {
    server.close();
    await once(server, "close");
  });
}

/** Bytes received and not yet read in a connected stream socket. */
export function buffered(s: Socket): number {
  return s[kStream]().queue.length;
}
