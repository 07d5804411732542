/**
 * `socketkit send`/`receive` and `share`/`fetch` when things go wrong: the connection cut
 * or reset at random offsets (from a seed that is printed; set SOCKETKIT_FAULT_SEED to
 * replay one), either side killed mid-way, and a full disk. Whatever happens, the side
 * that fails exits non-zero with one line saying why (but a `receive` whose transfer had
 * not begun, which says so in a line and waits on for a sender), nothing appears under the
 * final name, the partial file in the staging folder holds a prefix of the file, and the
 * next run resumes from it and ends with the file's SHA-256.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes, randomInt } from "node:crypto";
import {
  existsSync,
  readdirSync,
  readFileSync,
  statfsSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { STAGING_DIR, stagedPath } from "../../src/apps/transfer/dest-dir.ts";
import { receive } from "../../src/apps/transfer/index.ts";
import { deferred } from "../helpers/deferred.ts";
import { tinyDisk } from "../helpers/disk.ts";
import { tempDir, until } from "../helpers/net.ts";
import { type Program, socketkit } from "../helpers/proc.ts";
import { FaultProxy, type FaultProxyOptions, type Faults } from "./lib/fault-proxy.ts";
import { SeededRandom } from "./lib/seeded-random.ts";
import { MiB, type ServerProcess, T, testServer } from "./lib/server-process.ts";

/** The file every fault test moves. */
const SIZE = 4 * MiB;
const NAME = "payload.bin";
/** Seconds a silent peer is waited for: a transfer that hangs fails the test quickly. */
const TIMEOUT = "10";

const SEED = Number(process.env.SOCKETKIT_FAULT_SEED ?? randomInt(2 ** 31));

const sha = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** A file to send, and where it lands. */
interface Case {
  data: Buffer;
  source: string;
  dst: string;
  final: string;
  part: string;
}

async function newCase(t: TestContext, data: Buffer): Promise<Case> {
  const src = await tempDir(t);
  const dst = await tempDir(t);
  const source = join(src, NAME);
  writeFileSync(source, data);
  return {
    data,
    source,
    dst,
    final: join(dst, NAME),
    part: join(dst, stagedPath(NAME)),
  };
}

/** Starts `socketkit args...` (a client), stopped by pid when the test ends. */
function command(t: TestContext, args: string[]): Program {
  const program = socketkit(args);
  t.after(() => program.stop());
  return program;
}

/** `socketkit receive` into `dir`, stopped by pid when the test ends. */
function receiver(t: TestContext, dir: string): Promise<ServerProcess> {
  return testServer(t, ["receive", "--port", "0", "--dir", dir, "--timeout", TIMEOUT]);
}

/** A fault proxy in front of `port`, closed when the test ends. */
async function proxyTo(
  t: TestContext,
  port: number,
  faults: FaultProxyOptions = {},
): Promise<FaultProxy> {
  const proxy = await FaultProxy.start(["127.0.0.1", port], faults);
  t.after(() => proxy.close());
  return proxy;
}

/** The lines a command wrote to stderr, but for its `listening on` line. */
function messages(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l !== "" && !l.startsWith("listening on "));
}

/** Asserts that a failed command said why in exactly one line, with no stack trace. */
function oneLineError(who: string, program: Program, context: string): string {
  const lines = messages(program.stderr());
  assert.equal(lines.length, 1, `${who} (${context}) printed: ${JSON.stringify(lines)}`);
  const line = lines[0] as string;
  assert.match(line, /^socketkit: \S/, `${who} (${context})`);
  return line;
}

function partSize(c: Case): number {
  return existsSync(c.part) ? statSync(c.part).size : 0;
}

/**
 * After a failed run: nothing under the final name, and the `.part` (if any) is a prefix
 * of the file no shorter than before (the run resumed, it did not start again).
 */
function checkLeftovers(c: Case, heldBefore: number, context: string): number {
  assert.equal(existsSync(c.final), false, `nothing under the final name (${context})`);
  const held = partSize(c);
  if (held > 0) {
    const part = readFileSync(c.part);
    assert.ok(part.equals(c.data.subarray(0, held)), `the .part is a prefix (${context})`);
  }
  assert.ok(held >= heldBefore, `the .part went from ${heldBefore} to ${held} (${context})`);
  return held;
}

/** The summary line of a completed transfer that had `held` bytes already. */
function summary(verb: string, c: Case, held: number): RegExp {
  const resumed = held > 0 ? ` resumed at ${held} of ${c.data.length} bytes:` : "";
  return new RegExp(
    `${verb} ${NAME.replace(".", "\\.")},${resumed} ${c.data.length - held} bytes in .*, sha256 ${sha(c.data)}`,
  );
}

/** After the clean run: the whole file under its name, and no `.part`. */
function checkComplete(c: Case): void {
  assert.equal(sha(readFileSync(c.final)), sha(c.data), `the file's hash (seed ${SEED})`);
  assert.equal(existsSync(c.part), false, "the .part is gone");
}

/**
 * One `receive` and one `send` through a proxy with `faults`; both exit codes. A fault
 * before the receiver's side of the handshake was through is not its transfer: it says so
 * in one line (`ignored PEER: WHY`) and waits on for a sender, and is then stopped with
 * SIGTERM (`waited` is true, and it must exit 0).
 */
async function sendReceive(t: TestContext, c: Case, faults: FaultProxyOptions = {}) {
  const { program: rx, port } = await receiver(t, c.dst);
  const proxy = await proxyTo(t, port, faults);
  const tx = command(t, ["send", c.source, "--to", proxy.hostPort, "--timeout", TIMEOUT]);
  const txCode = await tx.exited;
  const waiting = () => messages(rx.stderr()).some((l) => l.startsWith("ignored "));
  await until(() => rx.child.exitCode !== null || waiting(), "receive ends or waits on", 20_000);
  const waited = rx.child.exitCode === null;
  if (waited) rx.child.kill("SIGTERM");
  const rxCode = await rx.exited;
  await proxy.close();
  return { tx, rx, txCode, rxCode, waited };
}

describe("transfer through a faulty network", () => {
  it("send/receive: cut and reset at random offsets, then a rerun resumes", T, async (t) => {
    t.diagnostic(`SOCKETKIT_FAULT_SEED=${SEED}`);
    const random = new SeededRandom(SEED);
    const c = await newCase(t, random.bytes(SIZE));
    let held = 0;
    // The first cut comes after the first mebibyte, so some of the file is on disk for
    // sure; the others fall anywhere in what the run still has to carry.
    const plan: Array<(remaining: number) => [string, FaultProxyOptions]> = [
      (r) => ["cut", { upstream: { cutAfter: random.int(MiB + 64 * 1024, r - MiB) } }],
      (r) => ["reset", { upstream: { resetAfter: random.int(0, r) } }],
      () => ["cut in the handshake", { downstream: { cutAfter: random.int(0, 90) } }],
      (r) => ["cut", { upstream: { cutAfter: random.int(0, r) } }],
      (r) => ["reset", { upstream: { resetAfter: random.int(0, r) } }],
    ];
    for (const step of plan) {
      const [what, faults] = step(SIZE - held);
      const context = `seed ${SEED}, ${what} ${JSON.stringify(faults)}, ${held} bytes held`;
      const run = await sendReceive(t, c, faults);
      assert.equal(run.txCode, 1, `send exits 1 (${context}): ${run.tx.stderr()}`);
      oneLineError("send", run.tx, context);
      if (run.waited) {
        // Cut before its transfer began: one line about it, and exit 0 on SIGTERM.
        assert.equal(run.rxCode, 0, `receive exits 0 (${context}): ${run.rx.stderr()}`);
        const lines = messages(run.rx.stderr());
        assert.equal(lines.length, 1, `receive (${context}) printed: ${JSON.stringify(lines)}`);
      } else {
        assert.equal(run.rxCode, 1, `receive exits 1 (${context}): ${run.rx.stderr()}`);
        oneLineError("receive", run.rx, context);
      }
      held = checkLeftovers(c, held, context);
    }
    assert.ok(held > 0, `the first cut left part of the file (seed ${SEED})`);
    const run = await sendReceive(t, c);
    assert.deepEqual([run.txCode, run.rxCode], [0, 0], run.tx.stderr() + run.rx.stderr());
    assert.match(run.tx.stderr(), summary("sent", c, held), "only the rest was sent");
    assert.match(run.rx.stderr(), summary("received", c, held));
    checkComplete(c);
  });

  it("share/fetch: cut and reset at random offsets, then a fetch resumes", T, async (t) => {
    t.diagnostic(`SOCKETKIT_FAULT_SEED=${SEED}`);
    const random = new SeededRandom(SEED ^ 0x5eed);
    const c = await newCase(t, random.bytes(SIZE));
    const { program: sh, port } = await testServer(t, [
      "share",
      c.source,
      "--port",
      "0",
      "--timeout",
      TIMEOUT,
    ]);
    const proxy = await proxyTo(t, port);
    let held = 0;
    const fetch = () =>
      command(t, ["fetch", "127.0.0.1", String(proxy.port), "--dir", c.dst, "--timeout", TIMEOUT]);
    const plan: Array<(remaining: number) => [string, Faults]> = [
      (r) => ["cut", { cutAfter: random.int(MiB + 64 * 1024, r - MiB) }],
      (r) => ["reset", { resetAfter: random.int(0, r) }],
      (r) => ["cut", { cutAfter: random.int(0, r) }],
    ];
    let served = 0;
    for (const step of plan) {
      const [what, faults] = step(SIZE - held);
      const context = `seed ${SEED}, ${what} ${JSON.stringify(faults)}, ${held} bytes held`;
      proxy.clear();
      proxy.set("downstream", faults);
      const fx = fetch();
      assert.equal(await fx.exited, 1, `fetch exits 1 (${context}): ${fx.stderr()}`);
      oneLineError("fetch", fx, context);
      held = checkLeftovers(c, held, context);
      // The share goes on, saying what became of that fetch in one line.
      served++;
      await until(() => messages(sh.stderr()).length === served, "the share's line", 10_000);
      assert.equal(sh.child.exitCode, null, "the share keeps serving");
    }
    assert.ok(held > 0, `the first cut left part of the file (seed ${SEED})`);
    proxy.clear();
    const fx = fetch();
    assert.equal(await fx.exited, 0, fx.stderr());
    assert.match(fx.stderr(), summary("received", c, held), "only the rest was fetched");
    await until(() => messages(sh.stderr()).length === served + 1, "the share's summary", 10_000);
    assert.match(sh.stderr(), summary("sent", c, held));
    checkComplete(c);
    await sh.stop();
    assert.equal(sh.child.exitCode, 0, sh.stderr());
  });

  it(
    "the sender killed mid-way, then the receiver killed mid-way: a rerun completes",
    T,
    async (t) => {
      // Far more than the socket buffers hold: a sender killed after the first mebibyte
      // has not handed the whole file to its kernel yet (what it had is still delivered).
      const c = await newCase(t, randomBytes(24 * MiB));
      // Paced, so that "mid-way" lasts long enough to be seen.
      const paced = { upstream: { bandwidth: 16_000_000 } };
      let held = 0;
      for (const victim of ["send", "receive"] as const) {
        const context = `${victim} killed, ${held} bytes held`;
        const { program: rx, port } = await receiver(t, c.dst);
        const proxy = await proxyTo(t, port, paced);
        const tx = command(t, ["send", c.source, "--to", proxy.hostPort, "--timeout", TIMEOUT]);
        const before = held;
        await until(() => partSize(c) >= before + MiB, "a mebibyte more on disk", 10_000);
        const [killed, survivor] = victim === "send" ? [tx, rx] : [rx, tx];
        killed.child.kill("SIGKILL");
        assert.equal(await killed.exited, null, "killed by the signal");
        proxy.clear(); // what the killed sender had handed to its kernel goes on at once
        assert.equal(await survivor.exited, 1, `the other side fails (${context})`);
        oneLineError(victim === "send" ? "receive" : "send", survivor, context);
        held = checkLeftovers(c, held, context);
        assert.ok(held >= before + MiB, context);
        await proxy.close();
      }
      const run = await sendReceive(t, c);
      assert.deepEqual([run.txCode, run.rxCode], [0, 0], run.tx.stderr() + run.rx.stderr());
      assert.match(run.tx.stderr(), summary("sent", c, held), "only the rest was sent");
      checkComplete(c);
    },
  );
});

/** Fills the file system holding `dir` but for `leave` bytes. */
function fill(dir: string, leave: number): void {
  const fs = statfsSync(dir);
  writeFileSync(join(dir, "filler"), Buffer.alloc(Math.max(0, fs.bavail * fs.bsize - leave)));
}

describe("transfer to a full disk", () => {
  it("a file larger than the free space is refused before a byte is written", T, async (t) => {
    const disk = tinyDisk(t, "1m");
    if (typeof disk !== "string") return t.skip(disk.skip);
    const c = await newCase(t, randomBytes(2 * MiB));
    const { program: rx, port } = await receiver(t, disk);
    const tx = command(t, ["send", c.source, "--to", `127.0.0.1:${port}`, "--timeout", TIMEOUT]);
    assert.deepEqual(await Promise.all([tx.exited, rx.exited]), [1, 1]);
    const refusal = /Refused "payload\.bin": 2097152 bytes and only \d+ free on the disk/;
    assert.match(oneLineError("receive", rx, "refusal"), refusal);
    assert.match(oneLineError("send", tx, "refusal"), /The receiver says: Refused "payload\.bin"/);
    assert.deepEqual(
      readdirSync(disk).filter((n) => n !== STAGING_DIR),
      [],
      "neither the file nor a partial file",
    );
    const staging = join(disk, STAGING_DIR);
    const partials = existsSync(staging) ? readdirSync(staging) : [];
    assert.deepEqual(
      partials.filter((n) => n.endsWith(".part")),
      [],
    );
  });

  it("a disk that fills up after the check: both commands say so in one line", T, async (t) => {
    const disk = tinyDisk(t, "1m");
    if (typeof disk !== "string") return t.skip(disk.skip);
    // Under the free space, so the receiver accepts it; then other data takes the room.
    const c = await newCase(t, randomBytes(900_000));
    const { program: rx, port } = await receiver(t, disk);
    const proxy = await proxyTo(t, port, {
      upstream: { bandwidth: 100_000 },
    });
    const tx = command(t, ["send", c.source, "--to", proxy.hostPort, "--timeout", TIMEOUT]);
    const part = join(disk, stagedPath(NAME));
    await until(() => existsSync(part), "the receiver to accept the file", 10_000);
    proxy.set("upstream", { stall: true });
    fill(disk, 64 * 1024);
    proxy.clear();
    assert.deepEqual(await Promise.all([tx.exited, rx.exited]), [1, 1]);
    assert.match(oneLineError("receive", rx, "full disk"), /no space left/);
    assert.match(oneLineError("send", tx, "full disk"), /The receiver says: .*no space left/);
    assert.equal(existsSync(join(disk, NAME)), false, "nothing under the final name");
  });

  it("a disk that fills up while the sender is still sending: it hears why", T, async (t) => {
    const disk = tinyDisk(t, "32m");
    if (typeof disk !== "string") return t.skip(disk.skip);
    // Far more than the buffers on the way hold, so the sender is mid-send when the
    // receiver stops and closes the connection with data unread (a reset).
    const c = await newCase(t, randomBytes(24 * MiB));
    const ready = deferred<number>();
    let filled = false;
    const stop = new AbortController();
    t.after(() => stop.abort());
    const receiving = receive({
      signal: stop.signal,
      dir: disk,
      log: () => {},
      onListening: ([, port]) => ready.resolve(port),
      progress: {
        file: () => {},
        advance: () => {
          if (!filled) fill(disk, 2 * MiB);
          filled = true;
        },
      },
    });
    receiving.catch(() => {});
    const tx = command(t, ["send", c.source, "--to", `127.0.0.1:${await ready.promise}`]);
    await assert.rejects(receiving, (err: unknown) => {
      assert.equal((err as NodeJS.ErrnoException).code, "ENOSPC");
      return true;
    });
    assert.equal(await tx.exited, 1);
    assert.match(oneLineError("send", tx, "full disk"), /The receiver says: .*no space left/);
    assert.equal(existsSync(join(disk, NAME)), false, "nothing under the final name");
  });
});
