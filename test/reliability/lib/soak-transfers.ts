/**
 * The soak's file transfers, with the real commands: `socketkit fetch` from a long-running
 * `socketkit share`, and `socketkit send` to a `socketkit receive` started for each
 * attempt. A job is one file: attempts are repeated until it arrives, each failed one
 * checked (one line saying why, nothing under the final name, the partial file a prefix of the
 * file no shorter than before) and each rerun checked to resume rather than start again.
 * Every completed file's SHA-256 is compared with the source's.
 * @module
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stagedPath } from "../../../src/apps/transfer/dest-dir.ts";
import { CliProcess, type Exit, STOP_GRACE_MS } from "./cli-process.ts";
import { FaultProxy } from "./fault-proxy.ts";
import type { FaultRoute } from "./fault-route.ts";
import type { SeededRandom } from "./seeded-random.ts";
import { MiB } from "./server-process.ts";
import type { SoakTally } from "./soak-tally.ts";

/** The name every transferred file has. */
export const NAME = "payload.bin";

/** Attempts of one job before it counts as never completing. */
const MAX_ATTEMPTS = 40;

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** A file to move: its bytes (kept to check partial-file prefixes) and hash. */
export interface SourceFile {
  path: string;
  data: Buffer;
  sha256: string;
}

/** Writes `size` seeded bytes to `dir/NAME`. */
export function makeSource(dir: string, random: SeededRandom, size: number): SourceFile {
  const data = random.bytes(size);
  const path = join(dir, NAME);
  writeFileSync(path, data);
  return { path, data, sha256: sha256(data) };
}

/** What the transfer workers share. */
export interface TransferContext {
  tally: SoakTally;
  /** Where jobs make their folders. */
  workDir: string;
  /** `--timeout` of every command, in seconds. */
  timeout: number;
  /** Share of attempts that go directly to the server. */
  directShare: number;
  /** True once the soak is over: no new job starts (the running one is completed). */
  stopping: () => boolean;
  /** Processes of attempts (for the "crash" count): exit code other than 0 or 1. */
  onProcess: (p: CliProcess) => void;
}

/** An attempt that does not end within this long is a hang (killed, and reported). */
const HANG_MS = 60_000;

/** Waits for `p` to exit; kills it (a hang, reported) if it takes longer than HANG_MS. */
async function exitOf(p: CliProcess, tally: SoakTally, what: string): Promise<Exit> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), HANG_MS);
  });
  const exit = await Promise.race([p.exited, hung]);
  clearTimeout(timer);
  if (exit !== null) return exit;
  tally.unexpected(what, `still running after ${HANG_MS} ms: ${p.args.join(" ")}; killed`);
  p.kill();
  return p.exited;
}

/**
 * Waits until `done()` holds (checked every `everyMs`), at most `ms`; returns whether it
 * did. On a timer, not on every turn of the event loop as the tests' `until` is: the
 * conditions read /proc or walk every proxy, while the soak's traffic runs alongside.
 */
export async function waitUntil(
  done: () => boolean,
  ms: number,
  everyMs: number,
): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!done()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return true;
}

function partSize(dir: string): number {
  const part = join(dir, stagedPath(NAME));
  return existsSync(part) ? statSync(part).size : 0;
}

/** How one attempt went, for {@link judgeAttempt}. */
interface Attempt {
  /** "fetch" or "send": the client; its server is "share" or "receive". */
  what: string;
  /** The side that writes the file: exit and stderr. */
  writer: { exit: Exit; process: CliProcess };
  /** The other side, when it is one process per attempt (send's); null for share. */
  other: { exit: Exit; process: CliProcess } | null;
  /** Bytes of the partial file before the attempt. */
  held: number;
  /** A disruptive fault was on the attempt's route. */
  hit: boolean;
  /** The writer was stopped (SIGTERM) while it waited for another peer. @default false */
  writerStopped?: boolean;
}

/** A command that failed must say why in one line: `socketkit: ...`. */
function oneLine(process: CliProcess): string | null {
  const lines = process.messages();
  return lines.length === 1 && /^socketkit: \S/.test(lines[0] as string)
    ? (lines[0] as string)
    : null;
}

/**
 * Checks an attempt's outcome. Returns true when the file is complete and verified (the
 * job is done), false when it has to be run again.
 */
function judgeAttempt(a: Attempt, source: SourceFile, dir: string, tally: SoakTally): boolean {
  const final = join(dir, NAME);
  // A writer stopped while waiting (it exited 0 on SIGTERM, checked already) ran no transfer.
  const code = a.writerStopped ? null : a.writer.exit.code;
  const sides = a.other === null || a.writerStopped ? [a.other ?? a.writer] : [a.writer, a.other];
  if (a.writerStopped && a.writer.process.stackLines > 0) {
    tally.unexpected(a.what, `a stack trace on stderr: ${a.writer.process.firstStack}`);
  }
  for (const side of sides) {
    const c = side.exit.code;
    if (c !== 0 && c !== 1) {
      tally.unexpected(
        a.what,
        `socketkit ${side.process.args[0]} ended with ${c ?? side.exit.signal}: ${side.process.stderr().slice(-600)}`,
      );
    } else if (side.process.stackLines > 0) {
      tally.unexpected(a.what, `a stack trace on stderr: ${side.process.firstStack}`);
    }
    if (c === 1) {
      const line = oneLine(side.process);
      if (line === null) {
        tally.unexpected(
          a.what,
          `socketkit ${side.process.args[0]} failed without one line saying why: ${JSON.stringify(side.process.messages().slice(0, 4))}`,
        );
      } else if (a.hit) tally.expected(`${side.process.args[0]}`, line);
      else {
        tally.unexpected(
          a.what,
          `socketkit ${side.process.args[0]} failed with no disruptive fault: ${line}`,
        );
      }
    }
  }
  if (code !== 0 && a.other?.exit.code === 0) {
    tally.unexpected(
      a.what,
      `socketkit ${a.other.process.args[0]} exited 0 but the file did not arrive`,
    );
  }
  if (code === 0) {
    if (!existsSync(final)) {
      tally.unexpected(a.what, `exit 0 and no ${NAME}`);
      return false;
    }
    verifyFinal(a, source, final, tally);
    if (existsSync(join(dir, stagedPath(NAME))))
      tally.unexpected(a.what, "a partial file is left over");
    const name = NAME.replace(".", "\\.");
    const line = new RegExp(
      `received ${name}(?:, (\\d+) bytes in|, resumed at \\d+ of \\d+ bytes: (\\d+) bytes in|: already there \\()`,
    ).exec(a.writer.process.stderr());
    const summary = line === null ? null : [line[0], line[1] ?? line[2] ?? "0"];
    const expected = source.data.length - a.held;
    if (summary === null) tally.unexpected(a.what, "no summary line");
    else if (Number(summary[1]) !== expected) {
      tally.unexpected(
        a.what,
        `${summary[1]} bytes moved where ${expected} were left (${a.held} held): the rerun did not resume`,
      );
    }
    if (a.held > 0) tally.count("transfers resumed");
    tally.count("transfer bytes", Number(summary?.[1] ?? 0));
    return true;
  }
  tally.count("transfer attempts interrupted");
  if (existsSync(final)) {
    // The connection ended after the receiver had checked and renamed the file, before
    // the closing `end`/`bye`: the file is whole and right, and the rerun must take it as
    // received, moving nothing (the run loop offers it as held in full).
    const got = readFileSync(final);
    if (sha256(got) !== source.sha256) {
      tally.unexpected(
        a.what,
        `a failed run left a wrong file under its name (${got.length} bytes)`,
      );
    }
    tally.count("transfers whole before a failed ending");
    return false;
  }
  const held = partSize(dir);
  if (held > 0) {
    const part = readFileSync(join(dir, stagedPath(NAME)));
    if (!part.equals(source.data.subarray(0, held))) {
      tally.unexpected(a.what, `the partial file (${held} bytes) is not a prefix of the file`);
    }
  }
  if (held < a.held)
    tally.unexpected(a.what, `the partial file shrank from ${a.held} to ${held} bytes`);
  return false;
}

/** Counts a file that arrived under its name, comparing its SHA-256 with the source's. */
function verifyFinal(a: Attempt, source: SourceFile, final: string, tally: SoakTally): void {
  const got = readFileSync(final);
  tally.count("transfers completed");
  if (sha256(got) === source.sha256) tally.count("transfers hash-verified");
  else {
    tally.count("transfer hash mismatches");
    tally.unexpected(a.what, `the file's SHA-256 differs from the source's (${got.length} bytes)`);
  }
}

/** Runs attempts for one file into `dir` until it is complete (or MAX_ATTEMPTS). */
async function runJob(
  what: string,
  source: SourceFile,
  dir: string,
  ctx: TransferContext,
  attempt: (held: number) => Promise<Attempt>,
): Promise<void> {
  for (let n = 1; ; n++) {
    if (n > MAX_ATTEMPTS) {
      ctx.tally.unexpected(what, `not complete after ${MAX_ATTEMPTS} attempts`);
      return;
    }
    // A file already under its name (a run cut after the rename) is held in full.
    const a = await attempt(existsSync(join(dir, NAME)) ? source.data.length : partSize(dir));
    ctx.tally.count(`${what} attempts`);
    if (judgeAttempt(a, source, dir, ctx.tally)) return;
  }
}

/**
 * Fetches the shared file again and again, one job at a time (a share serves one fetch
 * at a time), each into a fresh folder.
 */
export async function fetchWorker(
  share: { port: number; route: FaultRoute; source: SourceFile },
  random: SeededRandom,
  ctx: TransferContext,
): Promise<void> {
  const proxy = share.route.proxies()[0] as FaultProxy;
  while (!ctx.stopping()) {
    const dir = mkdtempSync(join(ctx.workDir, "fetch-"));
    await runJob("fetch", share.source, dir, ctx, async (held) => {
      // The share serves one fetch at a time: wait until it is done with the last one
      // (its connection through the proxy is gone), so this one is not kept waiting. A
      // share still held by a faulted fetch after that counts as a fault on this one.
      const mark = share.route.mark();
      const idle = await waitUntil(() => proxy.counters.open === 0, 15_000, 10);
      const direct = !ctx.stopping() && random.chance(ctx.directShare);
      const port = direct ? share.port : proxy.port;
      const p = CliProcess.start([
        "fetch",
        "127.0.0.1",
        String(port),
        "--dir",
        dir,
        "--timeout",
        String(ctx.timeout),
      ]);
      ctx.onProcess(p);
      const exit = await exitOf(p, ctx.tally, "fetch");
      if (direct) ctx.tally.count("fetch attempts direct");
      return {
        what: direct ? "fetch (direct)" : "fetch",
        writer: { exit, process: p },
        other: null,
        held,
        hit: !idle || (!direct && share.route.hit(mark)),
      };
    });
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * How a `receive` ended. A receive whose sender failed before the handshake was through
 * logs `ignored PEER: WHY` and goes on waiting for a sender (rerunning the send is how a
 * user goes on): once the send has failed, such a receive is stopped with SIGTERM, and
 * must exit 0 within the grace period. One that neither ends nor says so hangs.
 */
async function receiveOutcome(
  rx: CliProcess,
  sent: Promise<Exit>,
  ctx: TransferContext,
): Promise<{ exit: Exit; stopped: boolean }> {
  const txExit = await sent;
  if (txExit.code === 0) return { exit: await exitOf(rx, ctx.tally, "receive"), stopped: false };
  // Its own watchdog (`--timeout`) ends a handshake that the failed send left hanging.
  const ignored = await rx.line(/^ignored /, 3 * ctx.timeout * 1000 + 5000);
  if (ignored === null || !rx.running) {
    return { exit: await exitOf(rx, ctx.tally, "receive"), stopped: false };
  }
  const stop = await rx.stop(STOP_GRACE_MS);
  if (stop.code !== 0 || !stop.inTime) {
    ctx.tally.unexpected(
      "receive",
      `waiting after "${ignored}", it ended with ${stop.code ?? stop.signal} on SIGTERM${stop.inTime ? "" : ` only after SIGKILL (${STOP_GRACE_MS} ms)`}`,
    );
  }
  ctx.tally.count("receives stopped while waiting for another sender");
  return { exit: stop, stopped: true };
}

/**
 * Sends files of 1 to 4 MiB, each new, to a `receive` started for each attempt (it takes
 * one transfer and exits), through a proxy of `route` made for that attempt.
 */
export async function sendWorker(
  route: FaultRoute,
  random: SeededRandom,
  ctx: TransferContext,
): Promise<void> {
  while (!ctx.stopping()) {
    const src = mkdtempSync(join(ctx.workDir, "src-"));
    const dir = mkdtempSync(join(ctx.workDir, "dst-"));
    const source = makeSource(src, random, random.int(MiB, 4 * MiB + 1));
    await runJob("send", source, dir, ctx, async (held) => {
      const timeout = String(ctx.timeout);
      const rx = CliProcess.start(["receive", "--port", "0", "--dir", dir, "--timeout", timeout]);
      ctx.onProcess(rx);
      const port = await rx.listening();
      const direct = !ctx.stopping() && random.chance(ctx.directShare);
      const proxy = direct ? null : await FaultProxy.start(["127.0.0.1", port]);
      if (proxy !== null) route.add(proxy);
      const mark = route.mark();
      const to = `127.0.0.1:${proxy?.port ?? port}`;
      const tx = CliProcess.start(["send", source.path, "--to", to, "--timeout", timeout]);
      ctx.onProcess(tx);
      const sent = exitOf(tx, ctx.tally, "send");
      const received = receiveOutcome(rx, sent, ctx);
      const [txExit, { exit: rxExit, stopped }] = await Promise.all([sent, received]);
      const hit = proxy !== null && route.hit(mark);
      if (proxy !== null) {
        route.remove(proxy);
        await proxy.close();
      } else ctx.tally.count("send attempts direct");
      return {
        what: direct ? "send (direct)" : "send",
        writer: { exit: rxExit, process: rx },
        other: { exit: txExit, process: tx },
        held,
        hit,
        writerStopped: stopped,
      };
    });
    rmSync(src, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}
