import { createHash, type Hash } from "node:crypto";
import { chmod, type FileHandle, open, rename, stat, truncate, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { SocketError, TransferError, toSocketError } from "../../core/errors.ts";
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
 * Sends bytes [from, to) of a file, hashing them. Two buffers take turns: the next chunk
 * is read from the disk while the current one is sent, and a buffer is read into again
 * only once `sendall` has handed all of it to the kernel (no allocation per chunk).
 */
async function sendRange(
  channel: Channel,
  fh: FileHandle,
  hash: Hash,
  from: number,
  to: number,
  progress: TransferProgress,
): Promise<void> {
  const buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  const read = (at: number, buf: Buffer) =>
    fh
      .read(buf, 0, Math.min(CHUNK, to - at), at)
      .then(({ bytesRead }) => buf.subarray(0, bytesRead));
  let at = from;
  let turn = 0;
  let next = at < to ? read(at, buffers[0] as Buffer) : null;
  try {
    while (next !== null) {
      // The receiver has stopped and said why: sending more is in vain.
      if (channel.peerSaid !== null) throw channel.peerSaid;
      const chunk = await next;
      if (chunk.length === 0) {
        throw new TransferError("The file got shorter while it was sent", {
          code: "ERR_TRANSFER_CHANGED",
        });
      }
      at += chunk.length;
      turn ^= 1;
      next = at < to ? read(at, buffers[turn] as Buffer) : null;
      hash.update(chunk);
      await channel.conn.sendall(chunk);
      channel.activity++;
      progress.advance(chunk.length);
    }
  } finally {
    // A read still in flight when sending failed: its outcome no longer matters.
    next?.catch(() => {});
  }
}

/** Bytes of file data a receiver lets wait for the disk before it reads on. */
const WRITE_BEHIND = 8 * CHUNK;

/**
 * Receives exactly `length` bytes into a file, hashing them. Chunks are taken as the
 * socket delivers them (no copy), gathered into writes of about a chunk (one `writev`),
 * and the writes run in order behind the reading, up to {@link WRITE_BEHIND} bytes.
 */
async function receiveRange(
  channel: Channel,
  fh: FileHandle,
  hash: Hash,
  length: number,
  progress: TransferProgress,
): Promise<void> {
  let left = length;
  let writing: Promise<void> = Promise.resolve();
  let behind = 0;
  let parts: Buffer[] = [];
  let held = 0;
  // Set by a write's rejection handler (TypeScript cannot see assignments made there).
  let failed = null as { error: unknown } | null;
  channel.receivingData = true;
  try {
    while (left > 0) {
      // A write that failed (a full disk) ends the transfer now, not after the last byte.
      if (failed !== null) throw failed.error;
      const chunk = await channel.conn.recv(Math.min(READ_SIZE, left));
      if (chunk.length === 0) {
        throw new TransferError(
          `The sender closed the connection with ${left} bytes of the file still due`,
          {
            code: "ERR_TRANSFER_CLOSED",
          },
        );
      }
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
        writing = writing
          .then(() => writeAll(fh, batch))
          .then(() => {
            behind -= size;
          });
        // Handled at once: a write can fail while the loop waits for the socket, and a
        // rejection left unhandled then would end the process with a stack trace.
        writing.catch((error: unknown) => {
          failed ??= { error };
        });
        if (behind > WRITE_BEHIND) await writing;
      }
    }
    await writing;
    channel.receivingData = false;
  } finally {
    // A write still in flight when receiving failed: its outcome no longer matters.
    writing.catch(() => {});
  }
}

/** What one `recv` asks for: the size of the chunks the socket delivers, so none is copied. */
const READ_SIZE = 64 * 1024;

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
