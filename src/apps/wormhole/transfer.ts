import { createHash } from "node:crypto";
import { open as openFile, stat, statfs } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { messageOf, WormholeError } from "../../core/errors.ts";
import { DestDir, existsError } from "../transfer/dest-dir.ts";
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
import { TRANSFER_APPID, Wormhole } from "./wormhole.ts";

/**
 * `socketkit send` and `receive` with a code: wormhole's file-transfer app (the
 * `offer` / `answer` / `transit` messages of file-transfer-protocol.md) over a
 * {@link Wormhole}, the file's bytes over {@link Transit}, the receiver's ack carrying
 * the SHA-256 the sender checks. Between two socketkit peers, socketkit's own transfer
 * protocol instead (native-transfer.ts).
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
 * What {@link wormholeSend} sends: a text, a file, or files and folders (`paths`), which
 * go by socketkit's own protocol when the receiver is socketkit, else as `{ path }` when
 * there is one.
 */
export type WormholeOffer = { text: string } | { path: string } | { paths: string[] };

/** The outcome of a send or a receive with a code. */
export interface WormholeSummary {
  /** `files`: by socketkit's own protocol, with {@link WormholeSummary.transfer}. */
  kind: "text" | "file" | "files";
  /** The text, when it was one. */
  text?: string;
  /** The file's name (as sent) and where it went on the receiving side. */
  name?: string;
  path?: string;
  bytes: number;
  seconds: number;
  /** The SHA-256 of the file, as both sides computed it. */
  sha256?: string;
  /** How the bytes went: `direct ...` or `relay ...`. */
  via?: string;
  /** What socketkit's own protocol moved, file by file (resumed, already there). */
  transfer?: TransferSummary;
}

const RECORD = 256 * 1024;

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
  const fileOf = async (path: string) => {
    const info = await stat(path).catch(() => null);
    if (info === null || !info.isFile())
      throw new WormholeError(
        `Cannot send ${JSON.stringify(path)}: not a file (folders are not sent yet)`,
        { code: "ERR_WORMHOLE_SEND" },
      );
    return { path, name: basename(resolve(path)), size: info.size };
  };
  let file = "path" in what ? await fileOf(what.path) : null;
  // Listed before a code is made: a path that is not there fails at once.
  const tree = "paths" in what ? await listSources(what.paths) : null;
  for (const skipped of tree?.skipped ?? [])
    say(`skipped ${skipped}: not a file or folder (links are not followed)`);
  const w = await Wormhole.connect(options.relayUrl ?? DEFAULT_RELAY_URL, {
    timeout: options.timeout,
    appVersions: SOCKETKIT_APP_VERSIONS,
    onMotd: (motd) => say(`Server says: ${motd}`),
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
      file = await fileOf(what.paths[0] as string).catch((err: unknown) => {
        w.send({ error: messageOf(err) });
        throw err;
      });
    }
    const started = performance.now();
    if (file !== null) {
      transit = transitFor(true, options);
      w.send({ transit: await transit.hints() });
      transit.setKey(w.deriveKey(`${TRANSFER_APPID}/transit-key`));
      w.send({ offer: { file: { filename: file.name, filesize: file.size } } });
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
      try {
        const sha256 = await sendFile(pipe, file.path, file.size, options.progress, file.name);
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
          kind: "file",
          name: file.name,
          path: file.path,
          bytes: file.size,
          seconds: (performance.now() - started) / 1000,
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
  try {
    let sent = 0;
    const buffer = Buffer.allocUnsafe(4 * RECORD);
    while (sent < size) {
      const { bytesRead } = await fh.read(buffer, 0, Math.min(buffer.length, size - sent), sent);
      if (bytesRead === 0)
        throw new WormholeError(`Cannot send ${JSON.stringify(path)}: it shrank while being sent`, {
          code: "ERR_WORMHOLE_SEND",
        });
      const records: Buffer[] = [];
      for (let at = 0; at < bytesRead; at += RECORD) {
        records.push(buffer.subarray(at, Math.min(bytesRead, at + RECORD)));
      }
      hash.update(buffer.subarray(0, bytesRead));
      await pipe.sendMany(records);
      sent += bytesRead;
      progress?.advance(bytesRead);
    }
  } finally {
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
 * Receives what the sender of `code` sends: a text (given to `onText`), or a file, written
 * into `dir` (staged in its `.socketkit-partial/`, then moved into place once all its bytes
 * are in, never over a file of the user's without `overwrite`); its SHA-256 goes back to
 * the sender in the ack. An unsafe name, a file that exists (without `overwrite`), one over
 * `maxSize` or over the free space is refused: the sender is told why, and so is the user.
 */
export async function wormholeReceive(
  code: string,
  options: WormholeReceiveOptions = {},
): Promise<WormholeSummary> {
  const say = log(options);
  const dir = options.dir ?? ".";
  const w = await Wormhole.connect(options.relayUrl ?? DEFAULT_RELAY_URL, {
    timeout: options.timeout,
    appVersions: SOCKETKIT_APP_VERSIONS,
    onMotd: (motd) => say(`Server says: ${motd}`),
  });
  let mood: "happy" | "errory" | "scary" = "errory";
  let transit: Transit | null = null;
  try {
    await w.setCode(code);
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
      if (offer.directory !== undefined) refuse("Cannot take a folder yet (socketkit receive)");
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
        refuse(`Cannot take ${JSON.stringify(name)}: ${bytes} bytes, ${fs.bavail * fs.bsize} free`);
      if (transit === null) return refuse("Cannot take a file without transit hints");
      w.send({ answer: { file_ack: "ok" } });
      const pipe = await transit.connect();
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
          seconds: (performance.now() - started) / 1000,
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
    progress?.file(name, size, 0);
    try {
      let got = 0;
      while (got < size) {
        const record = await pipe.receive();
        if (record === null)
          throw new WormholeError(`The sender stopped after ${got} of ${size} bytes`, {
            code: "ERR_WORMHOLE_TRANSIT",
          });
        if (got + record.length > size)
          throw new WormholeError(`The sender sent more than the ${size} bytes it offered`, {
            code: "ERR_WORMHOLE_PEER",
          });
        hash.update(record);
        await staged.write([record]);
        got += record.length;
        progress?.advance(record.length);
      }
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
