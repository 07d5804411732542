/**
 * `--secret`: what a peer that does not know the secret can learn (nothing it could test
 * guesses against offline), and what the wire shows and lets through (the transfer is
 * encrypted and authenticated: no file byte in clear, no changed byte accepted).
 */
import assert from "node:assert/strict";
import { hkdfSync, randomBytes, randomInt } from "node:crypto";
import { once } from "node:events";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect, type Socket as NetSocket } from "node:net";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { STAGING_DIR } from "../../src/apps/transfer/dest-dir.ts";
import { receive, send } from "../../src/apps/transfer/index.ts";
import { arbitraryElement, passwordToScalar } from "../../src/apps/transfer/spake2.ts";
import { RecordOpener } from "../../src/codec/sealed-records.ts";
import { encodeMessage, encodePreamble } from "../../src/codec/transfer-codec.ts";
import { TransferError } from "../../src/core/errors.ts";
import { deferred } from "../helpers/deferred.ts";
import { netServer, tempDir } from "../helpers/net.ts";

const T = { timeout: 60_000 };
const SECRET = "correct horse";
const PAKE_ID = "socketkit transfer v2";
const { Point } = ed25519;
const ORDER = Point.Fn.ORDER;
const S = Point.fromBytes(arbitraryElement("symmetric"));

/** A `receive` in this process with `options`; its port, its outcome and its log. */
async function receiver(options: Parameters<typeof receive>[0]) {
  const ready = deferred<number>();
  const lines: string[] = [];
  const result = receive({
    log: (line) => lines.push(line),
    ...options,
    onListening: ([, port]) => ready.resolve(port),
  });
  result.catch(() => {});
  return { port: await ready.promise, result, lines };
}

/** Bytes from a raw connection, as they come, with a way to wait for more. */
class Raw {
  readonly socket: NetSocket;
  #got = Buffer.alloc(0);
  #more: (() => void) | null = null;

  constructor(socket: NetSocket) {
    this.socket = socket;
    socket.on("data", (d: Buffer) => {
      this.#got = Buffer.concat([this.#got, d]);
      this.#more?.();
    });
    socket.on("error", () => {});
  }

  static async connect(t: TestContext, port: number): Promise<Raw> {
    const socket = connect(port, "127.0.0.1");
    t.after(() => socket.destroy());
    await once(socket, "connect");
    return new Raw(socket);
  }

  /** Exactly `n` bytes (the test times out if they never come). */
  async take(n: number): Promise<Buffer> {
    while (this.#got.length < n) {
      await new Promise<void>((resolve) => {
        this.#more = resolve;
      });
    }
    const out = this.#got.subarray(0, n);
    this.#got = this.#got.subarray(n);
    return out;
  }

  /** The next framed message (4-byte length, JSON), as an object. */
  async message(): Promise<Record<string, unknown>> {
    const length = (await this.take(4)).readUInt32BE(0);
    return JSON.parse((await this.take(length)).toString("utf8"));
  }
}

/** A scalar from 64 random bytes, reduced: never 0. */
function randomScalar(): bigint {
  return (BigInt(`0x${randomBytes(64).toString("hex")}`) % (ORDER - 1n)) + 1n;
}

/** python-spake2's symmetric key, from our scalar `x`, both messages and a password. */
function spakeKey(password: string, x: bigint, ours: Buffer, theirs: Buffer): Buffer {
  const pw = passwordToScalar(password);
  const y = Point.fromBytes(theirs.subarray(1));
  const shared = y.subtract(S.multiply(pw)).multiply(x);
  const [first, second] = [ours.subarray(1), theirs.subarray(1)].sort(Buffer.compare);
  const encoder = new TextEncoder();
  return Buffer.from(
    sha256(
      Buffer.concat([
        sha256(encoder.encode(password)),
        sha256(encoder.encode(PAKE_ID)),
        first as Buffer,
        second as Buffer,
        shared.toBytes(),
      ]),
    ),
  );
}

/** The key of what the receiver sends, derived from the SPAKE2 key as socketkit does. */
function receiverKey(key: Buffer): Buffer {
  return Buffer.from(
    hkdfSync("sha256", key, Buffer.alloc(0), "socketkit transfer v2 receiver to sender", 32),
  );
}

/** Whether `record` (its wire bytes) opens under `key`. */
function opens(record: Buffer, key: Buffer): boolean {
  const opener = new RecordOpener(key);
  opener.push(record);
  try {
    return opener.next() !== undefined;
  } catch {
    return false;
  }
}

/**
 * Plays a sender that commits to the password `guess`: sends its SPAKE2 message, and
 * keeps what the receiver sends before the sender would have to prove anything: its
 * SPAKE2 message and its first record. Returns them with our scalar and message.
 */
async function attempt(t: TestContext, port: number, guess: string) {
  const raw = await Raw.connect(t, port);
  const x = randomScalar();
  const ours = Buffer.concat([
    Buffer.from("S"),
    Point.BASE.multiply(x)
      .add(S.multiply(passwordToScalar(guess)))
      .toBytes(),
  ]);
  raw.socket.write(
    Buffer.concat([
      encodePreamble("sender"),
      encodeMessage({ t: "hello", auth: true }),
      encodeMessage({ t: "pake", msg: ours.toString("hex") }),
    ]),
  );
  await raw.take(8);
  assert.deepEqual(await raw.message(), { t: "hello", auth: true });
  const pake = await raw.message();
  assert.equal(pake.t, "pake");
  const theirs = Buffer.from(pake.msg as string, "hex");
  const header = await raw.take(4);
  const record = Buffer.concat([header, await raw.take(header.readUInt32BE(0))]);
  raw.socket.destroy();
  return { x, ours, theirs, record };
}

describe("transfer --secret against a peer that does not know it", () => {
  it(
    "hands it nothing it can test guesses against offline, the right secret included",
    T,
    async (t) => {
      const stop = new AbortController();
      const { port, result } = await receiver({
        dir: await tempDir(t),
        secret: SECRET,
        signal: stop.signal,
      });
      // The control: a peer that committed to the right secret derives the receiver's key
      // this way, so the derivation below is the one an attacker would use.
      const honest = await attempt(t, port, SECRET);
      const key = spakeKey(SECRET, honest.x, honest.ours, honest.theirs);
      assert.ok(opens(honest.record, receiverKey(key)), "the offline check works");
      // A peer that committed to a wrong guess: no candidate, the right one among them,
      // gives a key that opens what it received.
      const wrong = await attempt(t, port, "battery staple");
      const candidates = ["battery staple", "correct", "correct horse ", SECRET, "hunter2"];
      for (const candidate of candidates) {
        const k = spakeKey(candidate, wrong.x, wrong.ours, wrong.theirs);
        assert.equal(opens(wrong.record, receiverKey(k)), false, candidate);
      }
      stop.abort();
      assert.equal(await result, null, "receive still waits for its sender");
    },
  );
});

/**
 * A relay from 127.0.0.1:port to `target` that records what the sender sends and lets
 * `tamper` change it on the way.
 */
async function relay(t: TestContext, target: number, tamper?: (chunk: Buffer, at: number) => void) {
  const seen: Buffer[] = [];
  let at = 0;
  const { port } = await netServer(t, (client) => {
    const upstream = connect(target, "127.0.0.1");
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    client.on("data", (chunk: Buffer) => {
      const copy = Buffer.from(chunk);
      tamper?.(copy, at);
      at += copy.length;
      seen.push(copy);
      upstream.write(copy);
    });
    client.on("end", () => upstream.end());
    upstream.on("data", (chunk: Buffer) => client.write(chunk));
    upstream.on("end", () => client.end());
    upstream.on("close", () => client.destroy());
    client.on("close", () => upstream.destroy());
  });
  return { port, seen: () => Buffer.concat(seen) };
}

describe("transfer --secret on the wire", () => {
  it("shows no byte of a file's name or content in clear", T, async (t) => {
    const src = await tempDir(t);
    const dst = await tempDir(t);
    const small = Buffer.from("the launch codes are 0000\n".repeat(40));
    const big = Buffer.concat([Buffer.from("BIG-FILE-MARKER"), randomBytes(2 * 1024 * 1024)]);
    writeFileSync(join(src, "launch-codes.txt"), small);
    writeFileSync(join(src, "archive.bin"), big);
    const { port, result } = await receiver({ dir: dst, secret: SECRET });
    const wire = await relay(t, port);
    const sent = await send(
      [join(src, "launch-codes.txt"), join(src, "archive.bin")],
      ["127.0.0.1", wire.port],
      { secret: SECRET },
    );
    assert.equal((await result)?.sha256, sent.sha256);
    assert.deepEqual(readFileSync(join(dst, "launch-codes.txt")), small);
    assert.deepEqual(readFileSync(join(dst, "archive.bin")), big);
    const seen = wire.seen();
    assert.ok(seen.length > big.length, "everything went through the relay");
    for (const clear of ["launch-codes", "launch codes", "archive.bin", "BIG-FILE-MARKER"])
      assert.equal(seen.includes(clear), false, `${clear} is not on the wire`);
    assert.equal(seen.includes(big.subarray(100_000, 100_064)), false, "nor the data");
  });

  it("moves a folder of small files, whose messages span records", T, async (t) => {
    const src = join(await tempDir(t), "many");
    const dst = await tempDir(t);
    mkdirSync(src);
    // 400 files of 3000 bytes: the sender's 256 KiB batches of them are cut into records
    // wherever the 256 KiB of a record ends, in the middle of a message or a file's bytes.
    for (let i = 0; i < 400; i++) writeFileSync(join(src, `f${i}`), randomBytes(3000));
    const { port, result } = await receiver({ dir: dst, secret: SECRET });
    const sent = await send([src], ["127.0.0.1", port], { secret: SECRET, timeout: 10 });
    assert.equal((await result)?.sha256, sent.sha256);
    assert.equal(readdirSync(join(dst, "many")).length, 400);
    assert.deepEqual(readFileSync(join(dst, "many", "f399")), readFileSync(join(src, "f399")));
  });

  it("refuses a byte changed on the way, and keeps nothing of the file", T, async (t) => {
    const src = await tempDir(t);
    const dst = await tempDir(t);
    writeFileSync(join(src, "f.bin"), randomBytes(3 * 1024 * 1024));
    const { port, result } = await receiver({ dir: dst, secret: SECRET });
    // One bit, somewhere in the file's data (well after the handshake's few hundred bytes).
    const target = randomInt(100_000, 3 * 1024 * 1024);
    const wire = await relay(t, port, (chunk, at) => {
      if (target >= at && target < at + chunk.length)
        chunk.writeUInt8((chunk.readUInt8(target - at) ^ 0x10) & 0xff, target - at);
    });
    await assert.rejects(
      send([join(src, "f.bin")], ["127.0.0.1", wire.port], { secret: SECRET }),
      TransferError,
    );
    await assert.rejects(result, (err: unknown) => {
      assert.ok(err instanceof TransferError);
      assert.equal(err.code, "ERR_TRANSFER_AUTH");
      return true;
    });
    assert.deepEqual(
      readdirSync(dst).filter((n) => n !== STAGING_DIR),
      [],
    );
  });
});
