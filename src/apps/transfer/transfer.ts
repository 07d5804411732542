import { createHash, type Hash, hash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { open, statfs } from "node:fs/promises";
import {
  encodeMessage,
  MAX_BLOB_SIZE,
  MAX_MESSAGE_SIZE,
  type PackedFile,
  type TransferMessage,
} from "../../codec/transfer-codec.ts";
import { SocketError, TransferError, toSocketError } from "../../core/errors.ts";
import { hasNative, native } from "../../native/index.ts";
import "../../native/register.ts";
import { type BulkReader, bulkReader, bulkWriter, writeInSlices } from "../../socket/bulk.ts";
import { nativeCalls } from "../../socket/socket-backend.ts";
import type { Channel } from "./channel.ts";
import { corruptError, DestDir, existsError, type StagedFile, type StoreItem } from "./dest-dir.ts";
import { diskError, quoteName, type SourceFile, type SourceTree } from "./files.ts";
import type { Wire } from "./wire.ts";

/** Bytes read from a file or the socket at a time. */
const CHUNK = 1024 * 1024;

/** What a transfer reports as it goes (a progress bar, or nothing). */
export interface TransferProgress {
  /** A file starts: its name, its size, and the bytes already there (resumed). */
  file(name: string, size: number, resumedAt: number): void;
  /** `bytes` more of the current file moved. */
  advance(bytes: number): void;
}

/**
 * How a file came to be on the receiver's side: all of it sent, the rest of it sent
 * after what an earlier, cut transfer left, or nothing sent because the receiver had it.
 */
export type FileOutcome = "sent" | "resumed" | "present";

/** One file moved and checked. */
export interface TransferredFile {
  path: string;
  size: number;
  /** Bytes that went over the wire (less than `size` when resumed, 0 when present). */
  sent: number;
  sha256: string;
  outcome: FileOutcome;
  /** Where a resumed file's data began (its bytes before were already there). */
  resumedAt: number;
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

/**
 * The receiver's answers as the sender waits for them, in the order they are due: the
 * sender sends ahead (small files whole, without waiting for each `ok`) and reads the
 * answers as they come. An `error` from the receiver fails every answer still due and is
 * kept in `channel.peerSaid`, which the sending checks before each write.
 */
class Answers {
  readonly #channel: Channel;
  readonly #due: {
    kind: "offer" | "ok" | "stored" | "bye";
    resolve: (m: TransferMessage) => void;
    reject: (err: unknown) => void;
  }[] = [];
  #reading = false;
  #failed: { error: unknown } | null = null;

  constructor(channel: Channel) {
    this.#channel = channel;
  }

  /** The next answer of this kind after those already due. */
  expect<K extends "offer" | "ok" | "stored" | "bye">(
    kind: K,
  ): Promise<Extract<TransferMessage, { t: K }>> {
    if (this.#failed !== null) return Promise.reject(this.#failed.error);
    const answer = new Promise<TransferMessage>((resolve, reject) => {
      this.#due.push({ kind, resolve, reject });
    });
    // Handled here: the sender may be busy writing when a receiver's error fails it.
    answer.catch(() => {});
    if (!this.#reading) void this.#read();
    return answer as Promise<Extract<TransferMessage, { t: K }>>;
  }

  /** Throws the failure that ended the reading, if one did. */
  check(): void {
    if (this.#failed !== null) throw this.#failed.error;
  }

  async #read(): Promise<void> {
    this.#reading = true;
    try {
      for (let head = this.#due[0]; head !== undefined; head = this.#due[0]) {
        const message = await this.#channel.expect(head.kind);
        this.#due.shift();
        head.resolve(message);
      }
    } catch (error) {
      this.#failed = { error };
      for (const waiting of this.#due.splice(0)) waiting.reject(error);
    } finally {
      this.#reading = false;
    }
  }
}

/** Data of small files gathered into one `pack`, at most (and one write). */
const PACK_BYTES = 256 * 1024;

/** Files in one `pack`, at most. */
const PACK_FILES = 256;

/**
 * Packs sent ahead of their `stored` answer, at most: more than the receiver keeps
 * waiting to be stored ({@link STORE_BEHIND}), so that the sending never waits on an
 * answer while the receiver has files it could store.
 */
const WINDOW = 64;

/** Bytes a file's entry in a `pack` can take in its JSON at most (every character escaped). */
const entryBound = (file: SourceFile) => 6 * file.rel.length + 120;

/**
 * Small files gathered for one `pack` message, which goes out with their bytes in one
 * write once it holds {@link PACK_FILES} files or {@link PACK_BYTES} bytes, or when the
 * sender is about to wait: one message, one hash check pass and one answer for them all.
 */
class Pack {
  readonly files: SourceFile[] = [];
  bytes = 0;
  #header = 64;

  /** Whether `file` fits in this pack. */
  fits(file: SourceFile): boolean {
    return (
      this.files.length < PACK_FILES &&
      this.bytes + file.size <= PACK_BYTES &&
      this.#header + entryBound(file) <= MAX_MESSAGE_SIZE
    );
  }

  add(file: SourceFile): void {
    this.files.push(file);
    this.bytes += file.size;
    this.#header += entryBound(file);
  }

  /**
   * The files read (with the addon, on the thread pool), with their entries for the
   * message, and their bytes.
   */
  async read(): Promise<PackRead> {
    const { data, sums } = await readAll(this.files, this.bytes);
    const entries = this.files.map(
      (file, i): PackedFile => ({
        path: file.rel,
        size: file.size,
        exec: file.exec,
        sha256: sums[i] as string,
      }),
    );
    return { entries, data };
  }
}

/** A pack's files read: their entries for the `pack` message, and their bytes. */
interface PackRead {
  entries: PackedFile[];
  data: Buffer;
}

/** Sends `tree` over an open, authenticated channel (we have the files). */
export async function runSender(
  channel: Channel,
  tree: SourceTree,
  progress: TransferProgress = NO_PROGRESS,
): Promise<TransferSummary> {
  const started = performance.now();
  const done: TransferredFile[] = [];
  const answers = new Answers(channel);
  let pack = new Pack();
  /** The receiver's `stored` to each pack sent and not yet answered, oldest first. */
  const stored: Promise<unknown>[] = [];
  /** The receiver's answer to the big file being sent, read while its data goes out. */
  let reply: Promise<unknown> | null = null;
  /**
   * The pack being read (on the thread pool, with the addon) while the one before it is
   * sent: the reading of one pack and the sending of the last go on at once.
   */
  let ahead: Promise<PackRead> | null = null;
  /** Starts reading the pack gathered, if any, and sends the one read before it. */
  const flushPack = async () => {
    if (pack.files.length === 0) return;
    const reading = pack.read();
    // Awaited in turn, below or at the next flush; a failure meanwhile waits for that.
    reading.catch(() => {});
    pack = new Pack();
    const before = ahead;
    ahead = reading;
    if (before !== null) await sendPack(await before);
  };
  /** Sends every pack gathered and read. */
  const sendPacks = async () => {
    await flushPack();
    const last = ahead;
    ahead = null;
    if (last !== null) await sendPack(await last);
  };
  /** Sends a pack read; waits while too many are unanswered. */
  const sendPack = async (sent: PackRead) => {
    await channel.sendRaw([encodeMessage({ t: "pack", files: sent.entries }), sent.data]);
    const entries = sent.entries.map((e) => transferred(e.path, e.size, e.sha256, "sent"));
    done.push(...entries);
    for (const e of sent.entries) {
      progress.file(e.path, e.size, 0);
      progress.advance(e.size);
    }
    // The receiver may have had some (received earlier): its answer says which.
    const answer = answers.expect("stored").then(({ present }) => {
      for (const i of present) {
        const e = sent.entries[i];
        if (e === undefined)
          throw new TransferError(
            `The receiver answered for file ${i} of a pack of ${sent.entries.length}`,
            {
              code: "ERR_TRANSFER_PROTOCOL",
            },
          );
        Object.assign(
          entries[i] as TransferredFile,
          transferred(e.path, e.size, e.sha256, "present"),
        );
      }
    });
    // Awaited in turn (the window, the end); a failure meanwhile is seen by check().
    answer.catch(() => {});
    stored.push(answer);
    if (stored.length > WINDOW) await stored.shift();
  };
  try {
    if (tree.emptyDirs.length > 0)
      await channel.sendRaw(tree.emptyDirs.map((path) => encodeMessage({ t: "dir", path })));
    for (const file of tree.files) {
      // The receiver has stopped and said why: sending more is in vain.
      answers.check();
      if (file.size <= MAX_BLOB_SIZE) {
        if (!pack.fits(file)) await flushPack();
        pack.add(file);
        continue;
      }
      await sendPacks();
      await channel.send({ t: "file", path: file.rel, size: file.size, exec: file.exec });
      const offer = await answers.expect("offer");
      stored.length = 0;
      const fh = await open(file.abs, "r");
      try {
        let hash = createHash("sha256");
        let from = 0;
        if (offer.held) {
          // The receiver has a file of that name it received earlier: ours is the same
          // if its hash is the one the receiver keeps. No byte of data is sent.
          await hashRange(fh, hash, 0, file.size, channel);
          from = file.size;
        } else if (offer.have > 0 && offer.have <= file.size) {
          await hashRange(fh, hash, 0, offer.have, channel);
          if (hash.copy().digest("hex") === offer.sha256) from = offer.have;
          else hash = createHash("sha256"); // their part differs from our file: start again
        }
        await channel.send({ t: "data", from });
        progress.file(file.rel, file.size, from);
        // `ok` is due after `done`, but a receiver that stops (a full disk) says `error`
        // at once: listening while sending, the sender stops there and says why.
        const answer = answers.expect("ok");
        reply = answer;
        await sendRange(channel, fh, hash, from, file.size, progress);
        const sha256 = hash.digest("hex");
        await channel.send({ t: "done", sha256 });
        await answer;
        reply = null;
        const outcome = offer.held ? "present" : from > 0 ? "resumed" : "sent";
        done.push(transferred(file.rel, file.size, sha256, outcome, from));
      } finally {
        await fh.close();
      }
    }
    await sendPacks();
    const bytes = done.reduce((n, f) => n + f.sent, 0);
    await channel.send({ t: "end", files: done.length, bytes });
    await Promise.all(stored);
    await answers.expect("bye");
  } catch (err) {
    let reason = channel.reason(err);
    // A send failed under us: the receiver may have said why just before it went. The
    // broken connection settles the read of its answer at once.
    if (!(reason instanceof TransferError)) {
      await settled(reply ?? stored.at(-1) ?? Promise.resolve(), 1000);
      reason = channel.peerSaid ?? reason;
    }
    await channel.fail(reason);
    throw reason;
  }
  return summary(done, started);
}

/**
 * A file as the summary counts it, on either side: `from` is where its data began (a
 * file already there moved nothing, from its end).
 */
function transferred(
  path: string,
  size: number,
  sha256: string,
  outcome: FileOutcome,
  from = 0,
): TransferredFile {
  const resumedAt = outcome === "present" ? size : from;
  return { path, size, sent: size - resumedAt, sha256, outcome, resumedAt };
}

/**
 * Small files read whole, one after another into one buffer of `bytes` bytes, and each
 * one's SHA-256; each must still have the size it was listed with. With the addon, in one
 * call on the thread pool for them all (a trip through the pool a file would cost more in
 * thread wake-ups than the file: bench/README.md, small files); without, on the event loop.
 */
async function readAll(
  files: readonly SourceFile[],
  bytes: number,
): Promise<{ data: Buffer; sums: string[] }> {
  const io = hasNative() ? native("reading small files") : null;
  // An addon built from older sources has neither call (listFolder came with this readFiles).
  if (io !== null && typeof io.listFolder === "function") {
    try {
      return await io.readFiles(
        files.map((f) => f.abs),
        files.map((f) => f.size),
      );
    } catch (err) {
      const file = files[(err as { index?: number }).index ?? -1];
      if (file !== undefined && (err as { code?: unknown }).code === "ESHORT") throw shorter(file);
      throw err;
    }
  }
  const data = Buffer.allocUnsafe(bytes);
  const sums: string[] = [];
  let at = 0;
  for (const file of files) {
    const part = data.subarray(at, at + file.size);
    readInto(file, part);
    sums.push(hash("sha256", part));
    at += file.size;
  }
  return { data, sums };
}

function shorter(file: SourceFile): TransferError {
  return new TransferError(`${quoteName(file.rel)} got shorter while it was read`, {
    code: "ERR_TRANSFER_CHANGED",
  });
}

/** Reads `file` whole into `data`, which has its size. */
function readInto(file: SourceFile, data: Buffer): void {
  const fd = openSync(file.abs, "r");
  try {
    let at = 0;
    while (at < file.size) {
      const bytesRead = readSync(fd, data, at, file.size - at, at);
      if (bytesRead === 0) throw shorter(file);
      at += bytesRead;
    }
  } finally {
    closeSync(fd);
  }
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
  let dest: DestDir | null = null;
  try {
    dest = await DestDir.open(options.dir);
    const into: Receiving = { channel, dest, options, progress };
    // Small files are stored in batches behind the reading (see StoreQueue), and a file
    // of any other kind waits until they are stored and answered.
    const stores = new StoreQueue(into, done);
    /** The names of the files received so far: a name sent twice is refused. */
    const names = new Set<string>();
    const once = (rel: string) => {
      if (names.has(rel)) {
        throw new TransferError(`The sender sent ${quoteName(rel)} twice`, {
          code: "ERR_TRANSFER_PROTOCOL",
        });
      }
      names.add(rel);
    };
    for (;;) {
      const message = await stores.or(channel.expect("file", "pack", "dir", "end"));
      if (message.t === "pack") {
        for (const file of message.files) once(file.path);
        // The folders the store needs are made while the pack's bytes come in.
        dest.prepareStore(message.files);
        await stores.add(message.files, await readPack(into, message.files));
        continue;
      }
      await stores.settle();
      if (message.t === "end") break;
      if (message.t === "dir") await dest.mkdirs(message.path);
      else {
        once(message.path);
        done.push(await receiveFile(into, message));
      }
    }
    await channel.send({ t: "bye" });
  } catch (err) {
    const reason = channel.reason(err);
    await channel.fail(reason);
    // The sender sends ahead: what it still sends must be read for it to read why.
    await channel.drain();
    throw reason;
  } finally {
    await dest?.close();
  }
  return summary(done, started);
}

/** What receiving one file needs. */
interface Receiving {
  channel: Channel;
  dest: DestDir;
  options: ReceiveOptions;
  progress: TransferProgress;
}

function checkSize(options: ReceiveOptions, rel: string, size: number): void {
  if (options.maxSize !== undefined && size > options.maxSize) {
    throw new TransferError(
      `Refused ${quoteName(rel)}: ${size} bytes is over the limit of ${options.maxSize}`,
      { code: "ERR_TRANSFER_SIZE" },
    );
  }
}

/** Bytes of small files read and waiting to be stored, at most, before reading waits. */
const STORE_BEHIND = 8 * CHUNK;

/**
 * Packs stored in one call, at most: their answers go out when the call ends, so a
 * batch much bigger would keep the sender waiting while the receiver's reading has
 * nothing to do.
 */
const STORE_BATCH = 4;

/**
 * Batches given to the store at once, at most. With the addon they run in turn, and the
 * next one waits queued while one runs: the thread pool goes from one batch to the next
 * without waiting for the event loop to take the last one's outcomes and make the next
 * (18% of the storing time of 10,000 small files went in those gaps).
 */
const STORES_AHEAD = 2;

/**
 * Small files stored in order behind the reading, in batches: the packs that came
 * while the last batch was being stored go to the disk together (one call on the thread
 * pool with the addon: a call per file would cost more in thread wake-ups than the file
 * itself). Each pack's `stored` goes out once its files have their names, in order. A
 * file that fails stops the rest; its error is thrown by the next {@link StoreQueue.add}
 * or by {@link StoreQueue.settle}.
 */
class StoreQueue {
  readonly #into: Receiving;
  readonly #done: TransferredFile[];
  #waiting: { files: PackedFile[]; items: StoreItem[] }[] = [];
  /** Batches given to the store, oldest first, with their outcomes to come. */
  #storing: {
    packs: { files: PackedFile[]; items: StoreItem[] }[];
    outcomes: Promise<("exists" | unknown)[]>;
  }[] = [];
  #bytes = 0;
  #running: Promise<void> | null = null;
  #failed: { error: unknown } | null = null;
  /** Called when a batch is stored (or the storing stops): the reading may go on. */
  #stored: (() => void)[] = [];
  /** Rejects with the first failure (see {@link StoreQueue.or}). */
  readonly #failure: Promise<never>;
  #fail: (error: unknown) => void = () => {};

  constructor(into: Receiving, done: TransferredFile[]) {
    this.#into = into;
    this.#done = done;
    this.#failure = new Promise<never>((_resolve, reject) => {
      this.#fail = reject;
    });
    this.#failure.catch(() => {});
  }

  /** Queues a pack's files and their data (in order); waits while too many bytes wait already. */
  async add(files: PackedFile[], data: Buffer[]): Promise<void> {
    if (this.#failed !== null) throw this.#failed.error;
    const items = files.map((f, i) => ({
      rel: f.path,
      data: data[i] as Buffer,
      mode: f.exec ? 0o755 : 0o644,
      sha256: f.sha256,
    }));
    this.#waiting.push({ files, items });
    for (const f of files) this.#bytes += f.size;
    this.#start();
    this.#running ??= this.#run();
    // Waits for a batch to be stored, not for them all: the reading goes on meanwhile.
    while (this.#bytes > STORE_BEHIND && this.#running !== null) {
      await new Promise<void>((resolve) => this.#stored.push(resolve));
    }
    if (this.#failed !== null) throw this.#failed.error;
  }

  /**
   * What `reading` resolves with, unless storing fails first: then its failure, at once (a
   * sender that waits for the answers would otherwise keep the reading waiting).
   */
  or<T>(reading: Promise<T>): Promise<T> {
    // A read left waiting fails later, when the connection closes: nobody needs its error.
    reading.catch(() => {});
    // The failure first: once storing has failed, it wins over a read already done.
    return Promise.race([this.#failure, reading]);
  }

  /** Waits until every queued file is stored and answered; throws the first failure. */
  async settle(): Promise<void> {
    await this.#running;
    if (this.#failed !== null) throw this.#failed.error;
  }

  /** Gives the store the packs waiting, as batches, while fewer than STORES_AHEAD run. */
  #start(): void {
    const { dest, options } = this.#into;
    const ahead = dest.checksWhole ? STORES_AHEAD : 1;
    while (this.#failed === null && this.#waiting.length > 0 && this.#storing.length < ahead) {
      const packs = this.#waiting.splice(0, STORE_BATCH);
      const outcomes = dest.storeWhole(
        packs.flatMap((p) => p.items),
        options.overwrite ?? false,
      );
      // Awaited in turn by #run; a failure meanwhile waits for that.
      outcomes.catch(() => {});
      this.#storing.push({ packs, outcomes });
    }
  }

  async #run(): Promise<void> {
    try {
      for (let batch = this.#storing[0]; batch !== undefined; batch = this.#storing[0]) {
        const { packs } = batch;
        const outcomes = await batch.outcomes;
        this.#storing.shift();
        // The next batch goes while this one's answers are made.
        this.#start();
        const { dest } = this.#into;
        const answers: Buffer[] = [];
        let at = 0;
        for (const { files } of packs) {
          const present: number[] = [];
          for (const [i, file] of files.entries()) {
            // There already: taken only if socketkit received these very bytes there.
            const there = outcomes[at++] === "exists";
            if (there && (await dest.received(file.path, file.size)) !== file.sha256)
              throw existsError(file.path);
            if (there) present.push(i);
            this.#done.push(this.#counted(file, there));
            this.#bytes -= file.size;
          }
          answers.push(encodeMessage({ t: "stored", present }));
        }
        await this.#into.channel.sendRaw(answers);
        for (const resume of this.#stored.splice(0)) resume();
      }
    } catch (error) {
      this.#failed = { error };
      this.#fail(error);
    } finally {
      this.#running = null;
      for (const resume of this.#stored.splice(0)) resume();
    }
  }

  /** A stored small file as the summary counts it, and as progress shows it. */
  #counted(file: PackedFile, present: boolean): TransferredFile {
    const { progress } = this.#into;
    const { path, size, sha256 } = file;
    progress.file(path, size, present ? size : 0);
    if (present) return transferred(path, size, sha256, "present");
    progress.advance(size);
    return transferred(path, size, sha256, "sent");
  }
}

/**
 * A pack's files' bytes, read in one go and each checked against its hash before
 * anything is written; the same path twice in one transfer is refused.
 */
async function readPack(into: Receiving, files: PackedFile[]): Promise<Buffer[]> {
  let total = 0;
  for (const f of files) {
    checkSize(into.options, f.path, f.size);
    total += f.size;
  }
  const all = await into.channel.readData(total);
  const out: Buffer[] = [];
  let at = 0;
  // With the addon, the store checks each file on the thread pool, before writing it.
  const check = !into.dest.checksWhole;
  for (const { path: rel, size, sha256 } of files) {
    const data = all.subarray(at, at + size);
    at += size;
    const ours = check ? hash("sha256", data) : sha256;
    if (ours !== sha256) throw corruptError(rel, ours, sha256);
    out.push(data);
  }
  return out;
}

async function receiveFile(
  into: Receiving,
  header: { path: string; size: number; exec: boolean },
): Promise<TransferredFile> {
  const { channel, dest, options, progress } = into;
  const { path: rel, size } = header;
  checkSize(options, rel, size);
  const there = await dest.prepare(rel, { overwrite: options.overwrite });
  if (there === "exists" && !options.overwrite) return receiveHeld(into, header);
  // What an earlier, cut transfer left in our staging folder: offered for resumption with
  // the hash of it.
  let have = await dest.stagedSize(rel);
  if (have > size) {
    await dest.discard(rel);
    have = 0;
  }
  const free = await statfs(options.dir).then(
    (s) => s.bavail * s.bsize,
    (err: unknown) => {
      throw toSocketError(err, `find the free space for ${quoteName(rel)}`);
    },
  );
  if (size - have > free) {
    throw new TransferError(
      `Refused ${quoteName(rel)}: ${size} bytes and only ${free} free on the disk`,
      { code: "ERR_TRANSFER_SIZE" },
    );
  }
  const hash = createHash("sha256");
  if (have > 0) {
    await onStaged(rel, "read", async () => {
      const staged = await dest.openStagedForRead(rel);
      try {
        await hashRange(staged, hash, 0, have, channel);
      } finally {
        await staged.close();
      }
    });
  }
  await channel.send({
    t: "offer",
    have,
    sha256: have > 0 ? hash.copy().digest("hex") : null,
    held: false,
  });
  const { from } = await channel.expect("data");
  if (from !== 0 && from !== have) {
    throw new TransferError(`The sender resumed at ${from}, not at ${have} or 0`, {
      code: "ERR_TRANSFER_PROTOCOL",
    });
  }
  const fileHash = from === 0 ? createHash("sha256") : hash;
  progress.file(rel, size, from);
  const staged = await onStaged(rel, "open", () => dest.openStaged(rel, from !== 0));
  const identity = await onStaged(rel, "write", async () => {
    try {
      await receiveRange(channel, staged, fileHash, size - from, progress);
      await staged.chmod(header.exec ? 0o755 : 0o644);
      return await staged.identity();
    } finally {
      await staged.close();
    }
  });
  const { sha256 } = await channel.expect("done");
  const ours = fileHash.digest("hex");
  if (sha256 !== ours) {
    // Our own staged file, known to be wrong.
    await dest.discard(rel).catch(() => {});
    throw corruptError(rel, ours, sha256);
  }
  await dest.commit(rel, options.overwrite ?? false, { ...identity, sha256 });
  await channel.send({ t: "ok", present: false });
  const outcome = from > 0 ? "resumed" : "sent";
  return transferred(rel, size, sha256, outcome, from);
}

/**
 * A file already under its final name, without `--overwrite`: refused, unless socketkit
 * received it there itself and it is unchanged since (a run cut after the rename, before
 * the sender heard `ok`, must resume to success, not to "it exists"). Then the receiver
 * offers it as held, without its hash; the sender hashes its own and sends no data, and
 * the file counts as present if the hashes agree. A file of the user's is never read.
 */
async function receiveHeld(
  into: Receiving,
  header: { path: string; size: number },
): Promise<TransferredFile> {
  const { channel, dest, progress } = into;
  const { path: rel, size } = header;
  const kept = await dest.received(rel, size);
  if (kept === null) throw existsError(rel);
  await channel.send({ t: "offer", have: size, sha256: null, held: true });
  const { from } = await channel.expect("data");
  if (from !== size) {
    throw new TransferError(`The sender sent data for ${quoteName(rel)}, which is held`, {
      code: "ERR_TRANSFER_PROTOCOL",
    });
  }
  const { sha256 } = await channel.expect("done");
  if (sha256 !== kept) throw existsError(rel);
  progress.file(rel, size, size);
  await channel.send({ t: "ok", present: true });
  return transferred(rel, size, sha256, "present");
}

/**
 * Runs a step on the staged file of the received file `rel`. A failure of the disk (a raw
 * error from `node:fs`) becomes a coded error naming the file, `Cannot ACTION the partial
 * file of "NAME": no space left on device`; socketkit's own errors pass as they are.
 */
async function onStaged<T>(rel: string, action: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof SocketError) throw err;
    throw diskError(err, rel, `${action} the partial file of ${quoteName(rel)}`);
  }
}

/** A file that can be read at a position: a `FileHandle`, or a {@link StagedFile}. */
interface Positional {
  read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }>;
}

/** Feeds bytes [from, to) of a file to `hash` (each chunk counts as progress). */
async function hashRange(
  fh: Positional,
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
  fh: Positional,
  hash: Hash,
  from: number,
  to: number,
  progress: TransferProgress,
): Promise<void> {
  const bulk = from < to && channel.wire.plain ? await bulkWriter(channel.conn) : null;
  const send =
    bulk === null ? (c: Buffer) => channel.wire.sendall(c) : (c: Buffer) => bulk.sendall(c);
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
      // A sealed wire seals the chunk now and writes it behind the last one, so the
      // sealing of one chunk goes on while the one before is written; on the connection
      // itself a write must not start before the last has ended.
      const sending = channel.wire.plain ? null : send(chunk);
      sending?.catch(() => {});
      free[i] = sends.run(async () => {
        await (sending ?? send(chunk));
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
  fh: StagedFile,
  hash: Hash,
  length: number,
  progress: TransferProgress,
): Promise<void> {
  const into: Into = { channel, writes: new InOrder(), fh, hash, progress };
  const { writes } = into;
  const bulk = length > 0 && channel.wire.plain ? bulkReader(channel.conn) : null;
  try {
    if (bulk !== null) await receiveBulk(into, bulk, length);
    else if (channel.wire.receiveData !== undefined) await receiveOnWire(into, length);
    else await receiveByRecv(into, length);
    await writes.finish();
  } finally {
    bulk?.release();
    writes.abandon();
  }
}

/** Where received file data goes: hashed, counted, written in order. */
interface Into {
  channel: Channel;
  writes: InOrder;
  fh: StagedFile;
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
 * {@link receiveRange} by the wire's own way ({@link Wire.receiveData}: a sealed wire
 * reads and opens its records into buffers of its own), each piece hashed and written
 * behind the receiving, on the thread pool in small slices with the addon.
 */
async function receiveOnWire(into: Into, length: number): Promise<void> {
  const { channel, writes, fh, hash, progress } = into;
  const slices = nativeCalls() !== null;
  const got = await (channel.wire.receiveData as NonNullable<Wire["receiveData"]>)(
    length,
    (piece) => {
      // A write that failed (a full disk) ends the transfer now, not after the last byte.
      writes.check();
      channel.activity++;
      hash.update(piece);
      progress.advance(piece.length);
      return writes.run(() => (slices ? writeInSlices(fh, piece) : fh.write([piece])));
    },
  );
  if (got < length) throw closedEarly(length - got);
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
    const chunk = await channel.wire.recv(Math.min(READ_SIZE, left));
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
        await fh.write(batch);
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
