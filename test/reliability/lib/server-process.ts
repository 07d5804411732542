/**
 * The server under test as a child process: `socketkit ARGS...` started from the source,
 * its port read from the `listening on` line, and what the kernel says about it (resident
 * memory, open file descriptors) read from /proc.
 * @module
 */
import { readFileSync } from "node:fs";
import { after, before, type TestContext } from "node:test";
import { fdCount, listening, type Program, portOf, socketkit } from "../../helpers/proc.ts";

/** A running `socketkit` server. */
export interface ServerProcess {
  program: Program;
  port: number;
  pid: number;
  /** Its open file descriptors once it listened, before any client came. */
  startFds: number;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
}

/**
 * Starts `socketkit ...args` and waits for its `listening on` line. Register
 * `program.stop()` (which stops it by pid) in the test's `after` before anything else.
 */
export async function startServer(
  args: string[],
  onStart: (program: Program) => void,
): Promise<ServerProcess> {
  const program = socketkit(args);
  onStart(program);
  const where = await listening(program);
  const pid = program.child.pid as number;
  return {
    program,
    port: Number(portOf(where)),
    pid,
    startFds: fdCount(pid),
    stderr: () => program.stderr(),
  };
}

/** Starts `socketkit ...args` for the test `t`, stopped by pid when that test ends. */
export function testServer(t: TestContext, args: string[]): Promise<ServerProcess> {
  return startServer(args, (program) => t.after(() => program.stop()));
}

/** The soft limit on open file descriptors of a process (`ulimit -n` as it started). */
export function fdLimit(pid: number | "self"): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
  if (m === null || m[1] === "unlimited") return Number.POSITIVE_INFINITY;
  return Number(m[1]);
}

/** `bytes` as MiB with one decimal, for messages. */
export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** 1 MiB. */
export const MiB = 1024 * 1024;

/** The options of a test against a server process: its time limit. */
export const T = { timeout: 30_000 };

/** What a burst of bad input may add to a server's resident memory. */
export const RSS_BOUND = 30 * MiB;

/**
 * How long after `seconds` of silence a server may take to close a connection: it looks
 * four times per period (so up to a quarter period late), plus the machine's slack.
 */
export function closeSlackMs(seconds: number): number {
  return 0.25 * seconds * 1000 + 1500;
}

/**
 * A server shared by the tests of the `describe` it is called in: started in its
 * `before` hook, stopped by pid in its `after` hook. Returns a getter for it.
 */
export function sharedServer(args: string[]): () => ServerProcess {
  let server: ServerProcess | undefined;
  let program: Program | undefined;
  before(async () => {
    server = await startServer(args, (p) => {
      program = p;
    });
  });
  after(async () => {
    if (program === undefined) return;
    const { exitCode, signalCode } = program.child;
    const early = exitCode !== null || signalCode !== null;
    await program.stop();
    // A server that died during the tests (a crash) fails the suite, with its last words.
    if (early) {
      throw new Error(
        `socketkit ${args.join(" ")} exited during the tests (${exitCode ?? signalCode}): ${program.stderr().slice(-2000)}`,
      );
    }
  });
  return () => {
    if (server === undefined) throw new Error(`socketkit ${args.join(" ")} did not start`);
    return server;
  };
}
