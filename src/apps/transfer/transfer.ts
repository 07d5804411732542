import { createHash, type Hash } from "node:crypto";
import { chmod, type FileHandle, open, rename, stat, truncate, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { SocketError, TransferError, toSocketError } from "../../core/errors.ts";
import { type BulkReader, bulkReader, bulkWriter, writeInSlices } from "../../socket/bulk.ts";
import type { Channel } from "./channel.ts";
import {
  diskError,
  freeBytes,
  openPart,
  PART_SUFFIX,
  quoteName,
  type SourceTree,
  targetDir,
  targetPath,
} from "./files.ts";

/** Bytes read from a file or the socket at a time. */
const CHUNK = 1024 * 1024;

/** What a transfer reports as it goes (a progress bar, or nothing). */
export interface TransferProgress {
  /** A file starts: its name, its size, and the bytes already there (resumed). */
  file(name: string, size: number, resumedAt: number): void;
  /** `bytes` more of the current file moved. */
  advance(bytes: number): void;
}

/** One file moved and checked. */
export interface TransferredFile {
  path: string;
  size: number;
  /** Bytes that went over the wire (less than `size` when resumed). */
  sent: number;
  sha256: string;
}

/** The outcome of a transfer, for the summary line. */
export interface TransferSummary {
  files: TransferredFile[];
  /** Bytes that went over the wire. */
  bytes: number;
  seconds: number;
  /**
   * The file's SHA-256 when there is one file; otherwise the SHA-256 of the list of
   * `HASH  PATH` lines, as `sha256sum` prints them, sorted by path.
   */
  sha256: string;
}

const NO_PROGRESS: TransferProgress = { file: () => {}, advance: () => {} };

/** Sends `tree` over an open, authenticated channel (we have the files). */
export async function runSender(
  channel: Channel,
  tree: SourceTree,
  progress: TransferProgress = NO_PROGRESS,
): Promise<TransferSummary> {
  const started = performance.now();
  const done: TransferredFile[] = [];
  /** The receiver's answer to the file being sent, read while its data goes out. */
  let reply: Promise<unknown> | null = null;
  try {
    for (const dir of tree.emptyDirs) await channel.send({ t: "dir", path: dir });
    for (const file of tree.files) {
      await channel.send({ t: "file", path: file.rel, size: file.size, exec: file.exec });
      const offer = await channel.expect("offer");
      const fh = await open(file.abs, "r");
      try {
        let hash = createHash("sha256");
        let from = 0;
        if (offer.have > 0 && offer.have <= file.size) {
          await hashRange(fh, hash, 0, offer.have, channel);
          if (hash.copy().digest("hex") === offer.sha256) from = offer.have;
          else hash = createHash("sha256"); // their part differs from our file: start again
        }
        await channel.send({ t: "data", from });
        progress.file(file.rel, file.size, from);
        // `ok` is due after `done`, but a receiver that stops (a full disk) says `error`
        // at once: listening while sending, the sender stops there and says why.
        const answer = channel.expect("ok");
        answer.catch(() => {});
        reply = answer;
        await sendRange(channel, fh, hash, from, file.size, progress);
        const sha256 = hash.digest("hex");
        await channel.send({ t: "done", sha256 });
        await answer;
        reply = null;
        done.push({ path: file.rel, size: file.size, sent: file.size - from, sha256 });
      } finally {
        await fh.close();
      }
    }
    const bytes = done.reduce((n, f) => n + f.sent, 0);
    await channel.send({ t: "end", files: done.length, bytes });
    await channel.expect("bye");
  } catch (err) {
    let reason = channel.reason(err);
    // A send failed under us: the receiver may have said why just before it went. The
    // broken connection settles the read of its answer at once.
    if (reply !== null && !(reason instanceof TransferError)) {
      await settled(reply, 1000);
      reason = channel.peerSaid ?? reason;
    }
    await channel.fail(reason);
    throw reason;
  }
  return summary(done, started);
}

/** Options of {@link runReceiver}. */
export interface ReceiveOptions {
  /** Folder the files go to. */
  dir: string;
  /** Replace files that exist. @default false */
  overwrite?: boolean;
  /** Largest file accepted, in bytes. @default no limit but the free space */
  maxSize?: number;
}

/** Receives files over an open, authenticated channel (we write them). */
export async function runReceiver(
  channel: Channel,
  options: ReceiveOptions,
  progress: TransferProgress = NO_PROGRESS,
): Promise<TransferSummary> {
  const started = performance.now();
  const done: TransferredFile[] = [];
  try {
    for (;;) {
      const message = await channel.expect("file", "dir", "end");
      if (message.t === "end") break;
      if (message.t === "dir") {
        await targetDir(options.dir, message.path);
        continue;
      }
      done.push(await receiveFile(channel, message, options, progress));
    }
    await channel.send({ t: "bye" });
  } catch (err) {
    const reason = channel.reason(err);
    await channel.fail(reason);
    // Stopped in the middle of the sender's data: the sender must get to read why.
    if (channel.receivingData) await channel.drain();
    throw reason;
  }
  return summary(done, started);
}

async function receiveFile(
  channel: Channel,
  header: { path: string; size: number; exec: boolean },
  options: ReceiveOptions,
  progress: TransferProgress,
): Promise<TransferredFile> {
  const { path: rel, size } = header;
  if (options.maxSize !== undefined && size > options.maxSize) {
    throw new TransferError(
      `Refused ${quoteName(rel)}: ${size} bytes is over the limit of ${options.maxSize}`,
      {
        code: "ERR_TRANSFER_SIZE",
      },
    );
  }
  let final: string;
  try {
    final = await targetPath(options.dir, rel, { overwrite: options.overwrite });
  } catch (err) {
    if (!(err instanceof TransferError && err.code === "ERR_TRANSFER_EXISTS")) throw err;
    return receiveHeld(channel, header, options, progress, err);
  }
  const part = `${final}${PART_SUFFIX}`;
  // What an earlier, cut transfer left: offered for resumption with the hash of it.
  let have = await stat(part).then(
    (s) => s.size,
    () => 0,
  );
  if (have > size) {
    await onPart(rel, "empty", () => truncate(part, 0));
    have = 0;
  }
  const free = await freeBytes(dirname(final)).catch((err: unknown) => {
    throw toSocketError(err, `find the free space for ${quoteName(rel)}`);
  });
  if (size - have > free) {
    throw new TransferError(
      `Refused ${quoteName(rel)}: ${size} bytes and only ${free} free on the disk`,
      {
        code: "ERR_TRANSFER_SIZE",
      },
    );
  }
  const hash = createHash("sha256");
  if (have > 0) await onPart(rel, "read", () => hashFile(part, hash, have, channel));
  await channel.send({ t: "offer", have, sha256: have > 0 ? hash.copy().digest("hex") : null });
  const { from } = await channel.expect("data");
  if (from !== 0 && from !== have) {
    throw new TransferError(`The sender resumed at ${from}, not at ${have} or 0`, {
      code: "ERR_TRANSFER_PROTOCOL",
    });
  }
  const fileHash = from === 0 ? createHash("sha256") : hash;
  progress.file(rel, size, from);
  const fh = await openPart(final, rel, from !== 0);
  await onPart(rel, "write", async () => {
    try {
      await receiveRange(channel, fh, fileHash, size - from, progress);
    } finally {
      await fh.close();
    }
  });
  const { sha256 } = await channel.expect("done");
  const ours = fileHash.digest("hex");
  if (sha256 !== ours) {
    await unlink(part).catch(() => {});
    throw new TransferError(
      `${quoteName(rel)} arrived corrupt: its SHA-256 is ${ours}, the sender's is ${sha256}`,
      {
        code: "ERR_TRANSFER_HASH",
      },
    );
  }
  await onPart(rel, "set the mode of", () => chmod(part, header.exec ? 0o755 : 0o644));
  await onPart(rel, "rename", () => rename(part, final));
  await channel.send({ t: "ok" });
  return { path: rel, size, sent: size - from, sha256 };
}

/**
 * A file already under its final name, refused unless it is the very file being sent: a
 * run cut after the rename (before the sender heard `ok`) must resume to success, not to
 * "it exists". The whole file is offered as held; a sender with the same bytes sends
 * none and the file counts as received; any other sender gets `refusal`.
 */
async function receiveHeld(
  channel: Channel,
  header: { path: string; size: number },
  options: ReceiveOptions,
  progress: TransferProgress,
  refusal: TransferError,
): Promise<TransferredFile> {
  const { path: rel, size } = header;
  const final = await targetPath(options.dir, rel, { overwrite: true });
  const held = await stat(final);
  if (held.size !== size || size === 0) throw refusal;
  const hash = createHash("sha256");
  await hashFile(final, hash, size, channel).catch((err: unknown) => {
    throw err instanceof SocketError ? err : diskError(err, rel, `read ${quoteName(rel)}`);
  });
  const ours = hash.digest("hex");
  await channel.send({ t: "offer", have: size, sha256: ours });
  const { from } = await channel.expect("data");
  if (from !== size) {
    // The sender's file differs and its bytes are on their way: read why we stop first.
    channel.receivingData = true;
    throw refusal;
  }
  const { sha256 } = await channel.expect("done");
  if (sha256 !== ours) throw refusal;
  progress.file(rel, size, size);
  await channel.send({ t: "ok" });
  return { path: rel, size, sent: 0, sha256 };
}

/**
 * Runs a step on the `.part` of the received file `rel`. A failure of the disk (a raw
 * error from `node:fs`) becomes a coded error naming the file, `Cannot ACTION "NAME.part":
 * no space left on device`; socketkit's own errors (the connection's) pass as they are.
 */
async function onPart<T>(rel: string, action: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof SocketError) throw err;
    throw diskError(err, rel, `${action} ${quoteName(`${rel}${PART_SUFFIX}`)}`);
  }
}

/** Feeds the first `length` bytes of the file at `path` to `hash`. */
async function hashFile(path: string, hash: Hash, length: number, channel: Channel): Promise<void> {
  const fh = await open(path, "r");
  try {
    await hashRange(fh, hash, 0, length, channel);
  } finally {
    await fh.close();
  }
}

/** Feeds bytes [from, to) of a file to `hash` (each chunk counts as progress). */
async function hashRange(
  fh: FileHandle,
  hash: Hash,
  from: number,
  to: number,
  channel: Channel,
): Promise<void> {
  const buf = Buffer.allocUnsafe(CHUNK);
  for (let at = from; at < to; ) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, to - at), at);
    if (bytesRead === 0)
      throw new TransferError("The file got shorter while it was read", {
        code: "ERR_TRANSFER_CHANGED",
      });
    hash.update(buf.subarray(0, bytesRead));
    channel.activity++;
    at += bytesRead;
  }
}

/**
 * Steps run one after another in the background (file writes behind the receiving, sends
 * behind the hashing). A step that fails skips the rest, and its error is thrown by the
 * next {@link check} or by {@link finish}.
 */
class InOrder {
  #tail: Promise<void> = Promise.resolve();
  #failed: { error: unknown } | null = null;

  /** Queues `step`; the promise settles (never rejects) once it has run or was skipped. */
  run(step: () => Promise<void>): Promise<void> {
    this.#tail = this.#tail.then(step);
    // Handled at once: a step can fail while the caller waits for something else, and a
    // rejection left unhandled then would end the process with a stack trace.
    return this.#tail.catch((error: unknown) => {
      this.#failed ??= { error };
    });
  }

  /** Throws the error of a step that failed. */
  check(): void {
    if (this.#failed !== null) throw this.#failed.error;
  }

  /** Waits for every step; rejects when one failed. */
  finish(): Promise<void> {
    return this.#tail;
  }

  /** For a caller that gives up: the outcome of the steps no longer matters. */
  abandon(): void {
    this.#tail.catch(() => {});
  }
}

/** Buffers a transfer rotates through: one being filled, one hashed, one drained. */
const PIECES = 3;

/**
 * Sends bytes [from, to) of a file, hashing them. Three buffers take turns: while one is
 * sent (on the thread pool, when the native addon is there; else by `sendall`), the next
 * is hashed and the one after it read from the disk. A buffer is read into again only
 * once all of it was sent, so nothing is allocated per chunk.
 */
async function sendRange(
  channel: Channel,
  fh: FileHandle,
  hash: Hash,
  from: number,
  to: number,
  progress: TransferProgress,
): Promise<void> {
  const bulk = from < to ? await bulkWriter(channel.conn) : null;
  const send =
    bulk === null ? (c: Buffer) => channel.conn.sendall(c) : (c: Buffer) => bulk.sendall(c);
  // No bigger than the range: a folder of small files allocates little per file.
  const size = Math.min(CHUNK, to - from);
  const buffers = Array.from({ length: PIECES }, () => Buffer.allocUnsafe(size));
  const free: Promise<void>[] = buffers.map(() => Promise.resolve());
  const sends = new InOrder();
  const read = (at: number, i: number) =>
    (free[i] as Promise<void>).then(() =>
      fh
        .read(buffers[i] as Buffer, 0, Math.min(size, to - at), at)
        .then(({ bytesRead }) => (buffers[i] as Buffer).subarray(0, bytesRead)),
    );
  let at = from;
  let turn = 0;
  let next = at < to ? read(at, turn) : null;
  try {
    while (next !== null) {
      // The receiver has stopped and said why: sending more is in vain.
      if (channel.peerSaid !== null) throw channel.peerSaid;
      sends.check();
      const chunk = await next;
      if (chunk.length === 0) {
        throw new TransferError("The file got shorter while it was sent", {
          code: "ERR_TRANSFER_CHANGED",
        });
      }
      const i = turn;
      at += chunk.length;
      turn = (turn + 1) % PIECES;
      next = at < to ? read(at, turn) : null;
      hash.update(chunk);
      free[i] = sends.run(async () => {
        await send(chunk);
        channel.activity++;
        progress.advance(chunk.length);
      });
    }
    await sends.finish();
  } finally {
    // A read or send still in flight when sending failed: its outcome no longer matters.
    next?.catch(() => {});
    sends.abandon();
  }
}

/** What one `recv` asks for: the size of the chunks the socket delivers, so none is copied. */
const READ_SIZE = 64 * 1024;

/** Bytes of file data a receiver lets wait for the disk before it reads on. */
const WRITE_BEHIND = 8 * CHUNK;

/**
 * Receives exactly `length` bytes into a file, hashing them, with the writes running in
 * order behind the receiving. With the native addon, the socket is read on the thread
 * pool into three rotating buffers ({@link receiveBulk}); otherwise by `recv`.
 */
async function receiveRange(
  channel: Channel,
  fh: FileHandle,
  hash: Hash,
  length: number,
  progress: TransferProgress,
): Promise<void> {
  const into: Into = { channel, writes: new InOrder(), fh, hash, progress };
  const { writes } = into;
  const bulk = length > 0 ? bulkReader(channel.conn) : null;
  channel.receivingData = true;
  try {
    if (bulk === null) await receiveByRecv(into, length);
    else await receiveBulk(into, bulk, length);
    await writes.finish();
    channel.receivingData = false;
  } finally {
    bulk?.release();
    writes.abandon();
  }
}

/** Where received file data goes: hashed, counted, written in order. */
interface Into {
  channel: Channel;
  writes: InOrder;
  fh: FileHandle;
  hash: Hash;
  progress: TransferProgress;
}

/** The error for a sender that closed with `left` bytes of the file unsent. */
function closedEarly(left: number): TransferError {
  return new TransferError(
    `The sender closed the connection with ${left} bytes of the file still due`,
    {
      code: "ERR_TRANSFER_CLOSED",
    },
  );
}

/**
 * {@link receiveRange} by `recv`: chunks are taken as the socket delivers them (no copy),
 * gathered into writes of about a chunk (one `writev`), up to {@link WRITE_BEHIND} bytes
 * waiting for the disk.
 */
async function receiveByRecv(into: Into, length: number): Promise<void> {
  const { channel, writes, fh, hash, progress } = into;
  let left = length;
  let behind = 0;
  let parts: Buffer[] = [];
  let held = 0;
  let written: Promise<void> = Promise.resolve();
  while (left > 0) {
    // A write that failed (a full disk) ends the transfer now, not after the last byte.
    writes.check();
    const chunk = await channel.conn.recv(Math.min(READ_SIZE, left));
    if (chunk.length === 0) throw closedEarly(left);
    left -= chunk.length;
    channel.activity++;
    hash.update(chunk);
    progress.advance(chunk.length);
    parts.push(chunk);
    held += chunk.length;
    if (held >= CHUNK || left === 0) {
      const batch = parts;
      const size = held;
      parts = [];
      held = 0;
      behind += size;
      written = writes.run(async () => {
        await writeAll(fh, batch);
        behind -= size;
      });
      if (behind > WRITE_BEHIND) await written;
    }
  }
}

/**
 * {@link receiveRange} on the thread pool: while the addon reads the next piece into one
 * buffer, the event loop hashes the piece that came and queues its write; a buffer is
 * read into again only once its write is done. What arrived before the socket was lent
 * comes first.
 */
async function receiveBulk(into: Into, bulk: BulkReader, length: number): Promise<void> {
  const { channel, writes, fh, hash, progress } = into;
  const take = (piece: Buffer): Promise<void> => {
    channel.activity++;
    hash.update(piece);
    progress.advance(piece.length);
    return writes.run(() => writeInSlices(fh, piece));
  };
  const early = bulk.takeBuffered(length);
  let left = length - early.length;
  if (early.length > 0) void take(early);
  // No bigger than what is still due: a small file that came whole allocates nothing.
  const buffers = Array.from({ length: left > 0 ? PIECES : 0 }, () =>
    Buffer.allocUnsafe(Math.min(CHUNK, left)),
  );
  const free: Promise<void>[] = buffers.map(() => Promise.resolve());
  const fill = async (i: number, want: number): Promise<Buffer> => {
    await free[i];
    writes.check();
    const buf = buffers[i] as Buffer;
    const n = await bulk.recvInto(buf, 0, Math.min(buf.length, want));
    if (n === 0) throw closedEarly(want);
    return buf.subarray(0, n);
  };
  let turn = 0;
  let next = left > 0 ? fill(turn, left) : null;
  try {
    while (next !== null) {
      const piece = await next;
      const i = turn;
      left -= piece.length;
      turn = (turn + 1) % PIECES;
      next = left > 0 ? fill(turn, left) : null;
      free[i] = take(piece);
    }
  } finally {
    // Reading goes back to the socket only once the addon has stopped reading.
    await next?.catch(() => {});
  }
}

/** Writes every byte of `parts`, in order (one `writev`, repeated if it falls short). */
async function writeAll(fh: FileHandle, parts: Buffer[]): Promise<void> {
  let rest = parts;
  while (rest.length > 0) {
    let { bytesWritten } = await fh.writev(rest);
    while (rest.length > 0 && bytesWritten >= (rest[0] as Buffer).length) {
      bytesWritten -= (rest[0] as Buffer).length;
      rest = rest.slice(1);
    }
    if (bytesWritten > 0) rest = [(rest[0] as Buffer).subarray(bytesWritten), ...rest.slice(1)];
  }
}

/** Waits until `promise` settles, however it ends, or `ms` pass. */
function settled(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    promise.then(done, done);
  });
}

function summary(files: TransferredFile[], started: number): TransferSummary {
  const sha256 =
    files.length === 1
      ? (files[0] as TransferredFile).sha256
      : createHash("sha256")
          .update(
            [...files]
              .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
              .map((f) => `${f.sha256}  ${f.path}\n`)
              .join(""),
          )
          .digest("hex");
  return {
    files,
    bytes: files.reduce((n, f) => n + f.sent, 0),
    seconds: (performance.now() - started) / 1000,
    sha256,
  };
}
