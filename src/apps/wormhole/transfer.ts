import { createHash, type Hash } from "node:crypto";
import { lstat, open as openFile, stat, statfs } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import type { Readable } from "node:stream";
import { messageOf, WormholeError } from "../../core/errors.ts";
import { DestDir, existsError, type StagedFile } from "../transfer/dest-dir.ts";
import { listSources } from "../transfer/files.ts";
import type { TransferProgress, TransferSummary } from "../transfer/transfer.ts";
import { DEFAULT_RELAY_URL, DEFAULT_TRANSIT_HELPER } from "./defaults.ts";
import {
  offeredTransfer,
  receiveNative,
  SOCKETKIT_APP_VERSIONS,
  sendNative,
  sharedTransferVersion,
} from "./native-transfer.ts";
import { parseTcpHint, type RecordPipe, Transit } from "./transit.ts";
import { unzipFolder } from "./unzip-folder.ts";
import { TRANSFER_APPID, Wormhole } from "./wormhole.ts";
import { type FolderZip, zipFolder } from "./zip-folder.ts";

/**
 * `socketkit send` and `receive` with a code: wormhole's file-transfer app (the
 * `offer` / `answer` / `transit` messages of file-transfer-protocol.md) over a
 * {@link Wormhole}, the file's bytes over {@link Transit}, the receiver's ack carrying
 * the SHA-256 the sender checks. A folder goes as the protocol sends one: a zip
 * ({@link zipFolder} on the way out, {@link unzipFolder} on the way in). Between two
 * socketkit peers, socketkit's own transfer protocol instead (native-transfer.ts).
 * @module
 */

export { DEFAULT_RELAY_URL, DEFAULT_TRANSIT_HELPER } from "./defaults.ts";

/** Options common to sending and receiving with a code. */
export interface WormholeTransferOptions {
  /** The rendezvous server. @default DEFAULT_RELAY_URL */
  relayUrl?: string;
  /** The transit relay, `tcp:HOST:PORT`. @default DEFAULT_TRANSIT_HELPER */
  transitHelper?: string;
  /**
   * Addresses to listen on for the peer's direct connection, given to it as hints; empty
   * to go through the relay only. @default ["127.0.0.1"]
   */
  listen?: readonly string[];
  /** Seconds to wait for the servers. @default 30 */
  timeout?: number;
  /** Where progress goes. */
  progress?: TransferProgress;
  /** Where one-line notices go (the code, how the data goes). @default stderr */
  log?: (line: string) => void;
}

/**
 * What {@link wormholeSend} sends: a text, a file or folder, or files and folders
 * (`paths`), which go by socketkit's own protocol when the receiver is socketkit, else as
 * `{ path }` when there is one.
 */
export type WormholeOffer = { text: string } | { path: string } | { paths: string[] };

/** The outcome of a send or a receive with a code. */
export interface WormholeSummary {
  /** `files`: by socketkit's own protocol, with {@link WormholeSummary.transfer}. */
  kind: "text" | "file" | "folder" | "files";
  /** The text, when it was one. */
  text?: string;
  /** The file's name (as sent) and where it went on the receiving side. */
  name?: string;
  path?: string;
  bytes: number;
  seconds: number;
  /** A folder's files: how many, and their bytes (`bytes` is then the zip's size). */
  files?: number;
  fileBytes?: number;
  /** The SHA-256 of the file (of a folder's zip), as both sides computed it. */
  sha256?: string;
  /** How the bytes went: `direct ...` or `relay ...`. */
  via?: string;
  /** What socketkit's own protocol moved, file by file (resumed, already there). */
  transfer?: TransferSummary;
}

const RECORD = 256 * 1024;
/** Bytes of a file read at a time (and sent in one write, as records). */
const CHUNK = 16 * RECORD;

function log(options: WormholeTransferOptions): (line: string) => void {
  return options.log ?? ((line) => process.stderr.write(`${line}\n`));
}

function transitFor(isSender: boolean, options: WormholeTransferOptions): Transit {
  return new Transit({
    isSender,
    relay: parseTcpHint(options.transitHelper ?? DEFAULT_TRANSIT_HELPER),
    listen: options.listen ?? ["127.0.0.1"],
  });
}

/**
 * Sends a text or a file: allocates a code (or takes `code`), calls `onCode` with it for
 * the user to pass on, waits for the receiver, and sends. Resolves once the receiver has
 * acknowledged (for a file: with the same SHA-256).
 */
export async function wormholeSend(
  what: WormholeOffer,
  options: WormholeTransferOptions & {
    code?: string;
    codeLength?: number;
    onCode?: (code: string) => void;
  } = {},
): Promise<WormholeSummary> {
  const say = log(options);
  let file = "path" in what ? await sourceOf(what.path) : null;
  // Listed before a code is made: a path that is not there fails at once.
  const tree = "paths" in what ? await listSources(what.paths) : null;
  for (const skipped of tree?.skipped ?? [])
    say(`skipped ${skipped}: not a file or folder (links are not followed)`);
  const w = await Wormhole.connect(options.relayUrl ?? DEFAULT_RELAY_URL, {
    timeout: options.timeout,
    appVersions: SOCKETKIT_APP_VERSIONS,
    onMotd: (motd) => say(`Server says: ${motd}`),
    onNotice: say,
  });
  let mood: "happy" | "errory" | "scary" = "errory";
  let transit: Transit | null = null;
  try {
    let code: string;
    if (options.code !== undefined) {
      await w.setCode(options.code);
      code = options.code;
    } else code = await w.allocateCode(options.codeLength ?? 2);
    options.onCode?.(code);
    await w.establish();
    if ("paths" in what) {
      const version = sharedTransferVersion(w.peerVersions);
      if (version !== null) {
        transit = transitFor(true, options);
        const sent = await sendNative(
          w,
          transit,
          tree as NonNullable<typeof tree>,
          version,
          options,
        );
        mood = "happy";
        return sent;
      }
      if (what.paths.length !== 1) {
        const why = `Cannot send ${what.paths.length} paths to a receiver that is not socketkit (wormhole takes one at a time)`;
        w.send({ error: why });
        throw new WormholeError(why, { code: "ERR_WORMHOLE_SEND" });
      }
      file = await sourceOf(what.paths[0] as string).catch((err: unknown) => {
        w.send({ error: messageOf(err) });
        throw err;
      });
    }
    const started = performance.now();
    if (file !== null) {
      transit = transitFor(true, options);
      w.send({ transit: await transit.hints() });
      transit.setKey(w.deriveKey(`${TRANSFER_APPID}/transit-key`));
      w.send({
        offer:
          file.zip === null
            ? { file: { filename: file.name, filesize: file.size } }
            : {
                directory: {
                  mode: "zipfile/deflated",
                  dirname: file.name,
                  zipsize: file.zip.zipsize,
                  numbytes: file.zip.numbytes,
                  numfiles: file.zip.numfiles,
                },
              },
      });
    } else {
      w.send({ offer: { message: (what as { text: string }).text } });
    }
    for (;;) {
      const m = await w.receive();
      if ("error" in m) {
        throw new WormholeError(`The receiver refused: ${String(m.error)}`, {
          code: "ERR_WORMHOLE_REFUSED",
        });
      }
      if ("transit" in m && transit !== null) {
        transit.addPeerHints((m.transit as Record<string, unknown> | null)?.["hints-v1"]);
      }
      if (!("answer" in m)) continue;
      const answer = (m.answer ?? {}) as Record<string, unknown>;
      if (file === null) {
        if (answer.message_ack !== "ok")
          throw new WormholeError(`The receiver did not take the text: ${JSON.stringify(answer)}`, {
            code: "ERR_WORMHOLE_REFUSED",
          });
        mood = "happy";
        const text = (what as { text: string }).text;
        return {
          kind: "text",
          text,
          bytes: Buffer.byteLength(text),
          seconds: (performance.now() - started) / 1000,
        };
      }
      if (answer.file_ack !== "ok")
        throw new WormholeError(`The receiver did not take the file: ${JSON.stringify(answer)}`, {
          code: "ERR_WORMHOLE_REFUSED",
        });
      const pipe = await (transit as Transit).connect();
      // The rate is of the bytes moving: not of the wait for the receiver to say yes.
      const moving = performance.now();
      try {
        const sha256 =
          file.zip === null
            ? await sendFile(pipe, file.path, file.size, options.progress, file.name)
            : await sendStream(pipe, file.zip.stream, file.size, options.progress, file.name);
        const ack = await pipe.receive();
        let parsed: Record<string, unknown> = {};
        try {
          parsed = JSON.parse(String(ack)) as Record<string, unknown>;
        } catch {}
        if (parsed.ack !== "ok")
          throw new WormholeError(`The receiver did not confirm the file: ${String(ack)}`, {
            code: "ERR_WORMHOLE_REFUSED",
          });
        if (typeof parsed.sha256 === "string" && parsed.sha256 !== sha256)
          throw new WormholeError(
            `The receiver got other bytes: its SHA-256 is ${parsed.sha256}, the file's ${sha256}`,
            { code: "ERR_WORMHOLE_HASH" },
          );
        mood = "happy";
        return {
          kind: file.zip === null ? "file" : "folder",
          name: file.name,
          path: file.path,
          bytes: file.size,
          ...(file.zip === null ? {} : { files: file.zip.numfiles, fileBytes: file.zip.numbytes }),
          seconds: (performance.now() - moving) / 1000,
          sha256,
          via: pipe.description,
        };
      } finally {
        await pipe.close();
      }
    }
  } catch (err) {
    if (err instanceof WormholeError && err.code === "ERR_WORMHOLE_KEY") mood = "scary";
    throw err;
  } finally {
    file?.zip?.stream.destroy();
    await transit?.close();
    await w.close(mood);
  }
}

/** What a path to send is: a file, or a folder and its zip (its size as the size). */
interface Source {
  path: string;
  name: string;
  size: number;
  zip: FolderZip | null;
}

async function sourceOf(path: string): Promise<Source> {
  const info = await stat(path).catch(() => null);
  const name = basename(resolve(path));
  if (info?.isFile()) return { path, name, size: info.size, zip: null };
  if (info?.isDirectory()) {
    const zip = await zipFolder(path, name);
    return { path, name, size: zip.zipsize, zip };
  }
  throw new WormholeError(
    `Cannot send ${JSON.stringify(path)}: ${info === null ? "no such file or folder" : "not a file nor a folder"}`,
    { code: "ERR_WORMHOLE_SEND" },
  );
}

/**
 * Sends `size` bytes of `stream` (a folder's zip) in records of {@link RECORD} bytes;
 * returns their SHA-256 (hex). More or fewer bytes than `size` fail the send.
 */
async function sendStream(
  pipe: RecordPipe,
  stream: Readable,
  size: number,
  progress: TransferProgress | undefined,
  name: string,
): Promise<string> {
  const hash = createHash("sha256");
  progress?.file(name, size, 0);
  let sent = 0;
  let held: Buffer[] = [];
  let heldBytes = 0;
  const flush = async (all: boolean) => {
    if (heldBytes === 0) return;
    const batch = held.length === 1 ? (held[0] as Buffer) : Buffer.concat(held, heldBytes);
    const whole = all ? batch.length : batch.length - (batch.length % RECORD);
    const records: Buffer[] = [];
    for (let at = 0; at < whole; at += RECORD)
      records.push(batch.subarray(at, Math.min(whole, at + RECORD)));
    held = whole < batch.length ? [batch.subarray(whole)] : [];
    heldBytes = batch.length - whole;
    if (records.length === 0) return;
    await pipe.sendMany(records);
    progress?.advance(whole);
  };
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    sent += chunk.length;
    if (sent > size)
      throw new WormholeError(
        `Cannot send ${JSON.stringify(name)}: its zip grew past ${size} bytes`,
        {
          code: "ERR_WORMHOLE_SEND",
        },
      );
    hash.update(chunk);
    held.push(chunk);
    heldBytes += chunk.length;
    if (heldBytes >= 4 * RECORD) await flush(false);
  }
  await flush(true);
  if (sent !== size)
    throw new WormholeError(
      `Cannot send ${JSON.stringify(name)}: its zip is ${sent} bytes, not the ${size} offered`,
      { code: "ERR_WORMHOLE_SEND" },
    );
  return hash.digest("hex");
}

/** Reads the file and sends it in records; returns its SHA-256 (hex). */
async function sendFile(
  pipe: RecordPipe,
  path: string,
  size: number,
  progress: TransferProgress | undefined,
  name: string,
): Promise<string> {
  const hash = createHash("sha256");
  const fh = await openFile(path, "r");
  progress?.file(name, size, 0);
  let writing: Promise<void> | null = null;
  try {
    // Two buffers: the next chunk is read while this one is sealed and sent.
    const buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
    const readAt = async (which: number, at: number): Promise<Buffer> => {
      const buffer = buffers[which] as Buffer;
      const want = Math.min(CHUNK, size - at);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(buffer, got, want - got, at + got);
        if (bytesRead === 0)
          throw new WormholeError(
            `Cannot send ${JSON.stringify(path)}: it shrank while being sent`,
            {
              code: "ERR_WORMHOLE_SEND",
            },
          );
        got += bytesRead;
      }
      return buffer.subarray(0, got);
    };
    let which = 0;
    let sent = 0;
    let next: Promise<Buffer> | null = size > 0 ? readAt(0, 0) : null;
    while (next !== null) {
      const chunk = await next;
      const after = sent + chunk.length;
      which ^= 1;
      next = after < size ? readAt(which, after) : null;
      // A read that fails while this chunk is sent is reported when it is awaited.
      next?.catch(() => {});
      const records: Buffer[] = [];
      for (let at = 0; at < chunk.length; at += RECORD)
        records.push(chunk.subarray(at, Math.min(chunk.length, at + RECORD)));
      hash.update(chunk);
      // Sealed while the chunk before is being written; then written in its turn.
      const sealed = pipe.seal(records);
      await writing;
      writing = pipe.write(sealed);
      writing.catch(() => {});
      sent = after;
      progress?.advance(chunk.length);
    }
    await writing;
  } finally {
    await writing?.catch(() => {});
    await fh.close();
  }
  return hash.digest("hex");
}

/** Options of {@link wormholeReceive}. */
export interface WormholeReceiveOptions extends WormholeTransferOptions {
  /** Folder files go to. @default "." */
  dir?: string;
  /** Replace a file that exists. */
  overwrite?: boolean;
  /** Refuse files larger than this many bytes. */
  maxSize?: number;
  /** Called with a text when one comes (the CLI prints it on stdout). */
  onText?: (text: string) => void;
}

/** Why a name the sender gave is not used as a file name here, or null when it may be. */
function unsafeName(name: string): string | null {
  if (name === "" || name === "." || name === "..") return "empty or a folder reference";
  if (/[/\\]/.test(name)) return "it has a path separator";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(name)) return "it has control characters";
  if (Buffer.byteLength(name) > 255) return "longer than 255 bytes";
  return null;
}

/**
 * Where the code comes from when it is not given: a function (a prompt) called once the
 * server is reached, with a way to list the nameplates in use there (for completion).
 */
export type CodeInput = (nameplates: () => Promise<string[]>) => Promise<string>;

/**
 * Receives what the sender of `code` sends (a {@link CodeInput} is asked for it once the
 * server is reached): a text (given to `onText`), or a file, written into `dir` (staged in
 * its `.socketkit-partial/`, then moved into place once all its bytes are in, never over a
 * file of the user's without `overwrite`); its SHA-256 goes back to the sender in the ack. An unsafe name, a file that exists (without `overwrite`), one over
 * `maxSize` or over the free space is refused: the sender is told why, and so is the user.
 * A folder (a zip) is unpacked into a staged folder and moved into place whole (with
 * `overwrite`, its files are added to a folder of that name); `maxSize` bounds its files'
 * total, and a zip that breaks a rule leaves nothing (see `receiveFolder`).
 */
export async function wormholeReceive(
  code: string | CodeInput,
  options: WormholeReceiveOptions = {},
): Promise<WormholeSummary> {
  const say = log(options);
  const dir = options.dir ?? ".";
  // Made (with its parents) before the server is reached, as `receive --port` makes it:
  // a --dir that cannot be is said at once, and its free space can be known.
  await DestDir.prepare(dir);
  const w = await Wormhole.connect(options.relayUrl ?? DEFAULT_RELAY_URL, {
    timeout: options.timeout,
    appVersions: SOCKETKIT_APP_VERSIONS,
    onMotd: (motd) => say(`Server says: ${motd}`),
    onNotice: say,
  });
  let mood: "happy" | "errory" | "scary" = "errory";
  let transit: Transit | null = null;
  try {
    await w.setCode(typeof code === "string" ? code : await code(() => w.listNameplates()));
    await w.establish();
    const started = performance.now();
    for (;;) {
      const m = await w.receive();
      if ("error" in m)
        throw new WormholeError(`The sender gave up: ${String(m.error)}`, {
          code: "ERR_WORMHOLE_REFUSED",
        });
      if ("transit" in m && transit === null) {
        transit = transitFor(false, options);
        transit.setKey(w.deriveKey(`${TRANSFER_APPID}/transit-key`));
        transit.addPeerHints((m.transit as Record<string, unknown> | null)?.["hints-v1"]);
        w.send({ transit: await transit.hints() });
      }
      if (!("offer" in m)) continue;
      const offer = (m.offer ?? {}) as Record<string, unknown>;
      const native = offeredTransfer(offer);
      if (native !== undefined) {
        const received = await receiveNative(w, transit, native, options);
        mood = "happy";
        return received;
      }
      if (typeof offer.message === "string") {
        options.onText?.(offer.message);
        w.send({ answer: { message_ack: "ok" } });
        mood = "happy";
        return {
          kind: "text",
          text: offer.message,
          bytes: Buffer.byteLength(offer.message),
          seconds: (performance.now() - started) / 1000,
        };
      }
      const refuse = (why: string): never => {
        w.send({ error: why });
        throw new WormholeError(why, { code: "ERR_WORMHOLE_REFUSED" });
      };
      if (offer.directory !== undefined) {
        const d = (offer.directory ?? {}) as Record<string, unknown>;
        const { mode, dirname, zipsize, numbytes, numfiles } = d;
        if (typeof mode !== "string" || !mode.startsWith("zipfile"))
          return refuse(
            `Cannot take a folder sent as ${JSON.stringify(mode)}: only zipfile is known`,
          );
        if (
          typeof dirname !== "string" ||
          ![zipsize, numbytes, numfiles].every((n) => Number.isSafeInteger(n) && (n as number) >= 0)
        )
          return refuse("Cannot take the folder: the offer has no valid name and sizes");
        const bad = unsafeName(dirname);
        if (bad !== null) refuse(`Cannot take the folder ${JSON.stringify(dirname)}: ${bad}`);
        const zipBytes = zipsize as number;
        const fileBytes = numbytes as number;
        const max = options.maxSize;
        if (max !== undefined && (fileBytes > max || zipBytes > max + ZIP_ROOM + max / 16))
          refuse(
            `Cannot take the folder ${JSON.stringify(dirname)}: ${fileBytes} bytes (a zip of ${zipBytes}) is over the receiver's --max-size ${max}`,
          );
        const there = await lstat(join(dir, dirname)).catch(() => null);
        if (there !== null && !options.overwrite)
          refuse(
            `Cannot take the folder ${JSON.stringify(dirname)}: it exists on the receiving side (--overwrite adds to it)`,
          );
        if (there !== null && !there.isDirectory())
          refuse(
            `Cannot take the folder ${JSON.stringify(dirname)}: something that is not a folder has its name`,
          );
        const fs = await statfs(dir).catch(() => null);
        if (fs !== null && fs.bavail * fs.bsize < zipBytes + fileBytes)
          refuse(
            `Cannot take the folder ${JSON.stringify(dirname)}: ${zipBytes} bytes of zip and ${fileBytes} of files, ${fs.bavail * fs.bsize} free`,
          );
        if (transit === null) return refuse("Cannot take a folder without transit hints");
        w.send({ answer: { file_ack: "ok" } });
        const pipe = await transit.connect();
        try {
          const got = await receiveFolder(pipe, dir, dirname, {
            zipsize: zipBytes,
            maxBytes: Math.min(fileBytes, max ?? Number.POSITIVE_INFINITY),
            overwrite: options.overwrite === true,
            progress: options.progress,
          });
          await pipe.send(Buffer.from(JSON.stringify({ ack: "ok", sha256: got.sha256 })));
          mood = "happy";
          return {
            kind: "folder",
            name: dirname,
            path: join(dir, dirname),
            bytes: zipBytes,
            files: got.files,
            fileBytes: got.bytes,
            seconds: (performance.now() - started) / 1000,
            sha256: got.sha256,
            via: pipe.description,
          };
        } finally {
          await pipe.close();
        }
      }
      const f = (offer.file ?? null) as Record<string, unknown> | null;
      if (f === null) return refuse("unknown offer type");
      const name = f.filename;
      const size = f.filesize;
      if (typeof name !== "string" || !Number.isSafeInteger(size) || (size as number) < 0)
        return refuse("Cannot take the file: the offer has no valid name and size");
      const bad = unsafeName(name);
      if (bad !== null) refuse(`Cannot take the file ${JSON.stringify(name)}: ${bad}`);
      const bytes = size as number;
      if (options.maxSize !== undefined && bytes > options.maxSize)
        refuse(
          `Cannot take ${JSON.stringify(name)}: ${bytes} bytes is over the receiver's --max-size ${options.maxSize}`,
        );
      const dest = join(dir, name);
      if (!options.overwrite && (await stat(dest).catch(() => null)) !== null)
        refuse(
          `Cannot take ${JSON.stringify(name)}: it exists on the receiving side (--overwrite replaces it)`,
        );
      const fs = await statfs(dir).catch(() => null);
      if (fs !== null && fs.bavail * fs.bsize < bytes)
        refuse(
          `Cannot take ${JSON.stringify(name)}: ${bytes} bytes and only ${fs.bavail * fs.bsize} free on the disk`,
        );
      if (transit === null) return refuse("Cannot take a file without transit hints");
      w.send({ answer: { file_ack: "ok" } });
      const pipe = await transit.connect();
      const moving = performance.now();
      try {
        const sha256 = await receiveFile(
          pipe,
          dir,
          name,
          bytes,
          options.overwrite === true,
          options.progress,
        );
        await pipe.send(Buffer.from(JSON.stringify({ ack: "ok", sha256 })));
        mood = "happy";
        return {
          kind: "file",
          name,
          path: dest,
          bytes,
          seconds: (performance.now() - moving) / 1000,
          sha256,
          via: pipe.description,
        };
      } finally {
        await pipe.close();
      }
    }
  } catch (err) {
    if (err instanceof WormholeError && err.code === "ERR_WORMHOLE_KEY") mood = "scary";
    throw err;
  } finally {
    await transit?.close();
    await w.close(mood);
  }
}

/** Bytes a folder's zip may have over `--max-size` for its headers, besides a 16th. */
const ZIP_ROOM = 1024 * 1024;

/**
 * Receives a folder's zip (`zipsize` bytes of records) into its spool in `dir`'s
 * `.socketkit-partial/`, unpacks it into a staged folder there ({@link unzipFolder}:
 * unsafe names, links, CRC-32 mismatches and more than `maxBytes` refused), then gives
 * that folder its name (`overwrite`: adds its files to a folder there). Nothing is left
 * but the complete folder: a cut or a refusal deletes the spool and the staged folder.
 */
async function receiveFolder(
  pipe: RecordPipe,
  dir: string,
  name: string,
  options: {
    zipsize: number;
    maxBytes: number;
    overwrite: boolean;
    progress: TransferProgress | undefined;
  },
): Promise<{ sha256: string; files: number; bytes: number }> {
  const { zipsize, progress } = options;
  const hash = createHash("sha256");
  const dest = await DestDir.open(dir);
  try {
    const spool = await dest.openSpool(name);
    let unpacked: { files: number; bytes: number };
    try {
      progress?.file(name, zipsize, 0);
      await receiveRecords(pipe, zipsize, spool, hash, progress);
    } finally {
      await spool.close();
    }
    const staged = await dest.openStagedFolder(name);
    try {
      const zip = await dest.openSpoolForRead(name);
      unpacked = await unzipFolder(zip, staged, { name, maxBytes: options.maxBytes });
    } finally {
      await staged.close();
    }
    await dest.commitFolder(name, options.overwrite);
    return { sha256: hash.digest("hex"), ...unpacked };
  } finally {
    await dest.discardFolder(name).catch(() => {});
    await dest.close();
  }
}

/**
 * Writes `size` bytes of records to `file` at its position, hashing them. Records are
 * opened into one of two buffers of {@link CHUNK} bytes; a full one is written while the
 * other fills (one write in flight): no buffer for each record. Fewer bytes (the sender
 * gone) or more than `size` fail.
 */
async function receiveRecords(
  pipe: RecordPipe,
  size: number,
  file: StagedFile,
  hash: Hash,
  progress: TransferProgress | undefined,
): Promise<void> {
  const buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  let which = 0;
  let filled = 0;
  let writing: Promise<void> | null = null;
  const flush = async () => {
    await writing;
    if (filled === 0) return;
    writing = file.write([(buffers[which] as Buffer).subarray(0, filled)]);
    // Its failure is reported when it is awaited (at the next flush, or the end).
    writing.catch(() => {});
    progress?.advance(filled);
    which ^= 1;
    filled = 0;
  };
  try {
    let got = 0;
    while (got < size) {
      const length = await pipe.receiveInto(async (length) => {
        if (got + length > size)
          throw new WormholeError(`The sender sent more than the ${size} bytes it offered`, {
            code: "ERR_WORMHOLE_PEER",
          });
        if (filled + length > (buffers[which] as Buffer).length) await flush();
        // A record larger than a buffer (no sender makes one) gets a buffer its size.
        if (length > (buffers[which] as Buffer).length) buffers[which] = Buffer.allocUnsafe(length);
        return [buffers[which] as Buffer, filled];
      });
      if (length === null)
        throw new WormholeError(`The sender stopped after ${got} of ${size} bytes`, {
          code: "ERR_WORMHOLE_TRANSIT",
        });
      hash.update((buffers[which] as Buffer).subarray(filled, filled + length));
      filled += length;
      got += length;
    }
    await flush();
    await writing;
  } finally {
    // A file is closed only once no write of it is under way.
    await (writing as Promise<void> | null)?.catch(() => {});
  }
}

/**
 * Writes `size` bytes of records as `name` in `dir`, staged as `send --to`'s receiver
 * stages (in `dir`'s `.socketkit-partial/`, never at a name of the user's, a file made
 * anew, beneath `dir` with the addon), then moves it into place, never over a file that
 * appeared meanwhile unless `overwrite`; returns the bytes' SHA-256. A cut transfer
 * leaves nothing.
 */
async function receiveFile(
  pipe: RecordPipe,
  dir: string,
  name: string,
  size: number,
  overwrite: boolean,
  progress: TransferProgress | undefined,
): Promise<string> {
  const hash = createHash("sha256");
  const dest = await DestDir.open(dir);
  let placed = false;
  try {
    if ((await dest.prepare(name, { overwrite })) === "exists") throw existsError(name);
    const staged = await dest.openStaged(name, false);
    try {
      progress?.file(name, size, 0);
      await receiveRecords(pipe, size, staged, hash, progress);
      await staged.sync();
    } finally {
      await staged.close();
    }
    await dest.commit(name, overwrite);
    placed = true;
  } finally {
    if (!placed) await dest.discard(name).catch(() => {});
    await dest.close();
  }
  return hash.digest("hex");
}
