import * as zlib from "node:zlib";
import yauzl from "yauzl";
import { refusedName } from "../../codec/transfer-codec.ts";
import { TransferError } from "../../core/errors.ts";
import type { DestDir, StagedFile } from "../transfer/dest-dir.ts";

/**
 * A received folder's zip, unpacked entry by entry (yauzl reads the central directory
 * from the spooled file, then each entry through a streaming inflate) into a staged
 * folder: every name through {@link DestDir}'s rules, each entry's CRC-32 and sizes
 * checked, the total bounded before and while inflating.
 * @module
 */

/** Limits of {@link unzipFolder}. */
export interface UnzipOptions {
  /** Most bytes the files may hold together, declared or inflated: a zip bomb is refused. */
  maxBytes: number;
  /** The folder's name, for messages. */
  name: string;
  /** Called with the bytes of each piece written. */
  onBytes?: (bytes: number) => void;
}

/** What {@link unzipFolder} unpacked. */
export interface UnzipSummary {
  files: number;
  bytes: number;
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;

/** CRC-32 (zlib's), with a table in JavaScript where node:zlib lacks it (before Node 20.15). */
const crc32: (data: Uint8Array, value: number) => number =
  typeof zlib.crc32 === "function" ? zlib.crc32 : crc32Js;

let table: Int32Array | null = null;
function crc32Js(data: Uint8Array, value: number): number {
  if (table === null) {
    table = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c;
    }
  }
  let c = ~value;
  for (let i = 0; i < data.length; i++)
    c = (table[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

function bad(name: string, why: string): TransferError {
  return new TransferError(`Cannot unpack the folder ${JSON.stringify(name)}: ${why}`, {
    code: "ERR_TRANSFER_ZIP",
  });
}

/**
 * Unpacks the zip in `spool` (all of it there, open to read; closed by this call) into `into`, which should be a staged
 * folder: folders are made, files created (a name that comes twice is refused) with the
 * permission bits of the zip (0644 when it has none). Refused, with the first reason: a
 * name that is unsafe (`../x`, absolute, a backslash, control characters, socketkit's
 * staging folder), a symbolic link, an encrypted entry or a method other than stored or
 * deflated, sizes over `maxBytes` in total (as declared, or as they inflate), and an
 * entry whose CRC-32 or size is not what the zip says. What was written is left for the
 * caller to discard.
 */
export async function unzipFolder(
  spool: StagedFile,
  into: DestDir,
  options: UnzipOptions,
): Promise<UnzipSummary> {
  const { name, maxBytes } = options;
  let zip: yauzl.ZipFile;
  try {
    // yauzl takes the descriptor over: zip.close() closes it once its reads are done.
    zip = await yauzl.fromFdPromise(spool.fd, {
      lazyEntries: true,
      autoClose: false,
      decodeStrings: true,
      validateEntrySizes: true,
      strictFileNames: true,
    });
  } catch (err) {
    await spool.close();
    throw bad(name, `it is not a zip (${(err as Error).message})`);
  }
  // An error after the loop is left (a refusal) has no one else to go to.
  zip.on("error", () => {});
  let declared = 0;
  let written = 0;
  let files = 0;
  try {
    const entries = zip.eachEntry();
    for (;;) {
      let next: IteratorResult<yauzl.Entry>;
      try {
        next = await entries.next();
      } catch (err) {
        throw bad(name, (err as Error).message);
      }
      if (next.done) break;
      const entry = next.value;
      const rel = entry.fileName;
      const mode = entry.externalFileAttributes >>> 16;
      if ((mode & S_IFMT) === S_IFLNK)
        throw refusedName(rel, "it is a symbolic link (links are not unpacked)");
      if (rel.endsWith("/") || (mode & S_IFMT) === S_IFDIR) {
        const dir = rel.replace(/\/+$/, "");
        if (dir !== "") await into.mkdirs(dir);
        continue;
      }
      if (entry.isEncrypted()) throw refusedName(rel, "it is encrypted");
      if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8)
        throw refusedName(rel, `its compression method ${entry.compressionMethod} is not known`);
      declared += entry.uncompressedSize;
      if (declared > maxBytes)
        throw bad(name, `its files would hold more than the ${maxBytes} bytes allowed`);
      const file = await into.createFile(rel, (mode & 0o777) === 0 ? 0o644 : mode & 0o777);
      files++;
      let crc = 0;
      let size = 0;
      try {
        let stream: NodeJS.ReadableStream;
        try {
          stream = await zip.openReadStreamPromise(entry);
        } catch (err) {
          throw bad(name, `${JSON.stringify(rel)}: ${(err as Error).message}`);
        }
        try {
          for await (const chunk of stream as AsyncIterable<Buffer>) {
            size += chunk.length;
            written += chunk.length;
            if (written > maxBytes)
              throw bad(name, `its files inflate to more than the ${maxBytes} bytes allowed`);
            crc = crc32(chunk, crc);
            await file.write([chunk]);
            options.onBytes?.(chunk.length);
          }
        } catch (err) {
          if (err instanceof TransferError) throw err;
          throw bad(name, `${JSON.stringify(rel)}: ${(err as Error).message}`);
        }
      } finally {
        await file.close();
      }
      if (size !== entry.uncompressedSize)
        throw bad(
          name,
          `${JSON.stringify(rel)} is ${size} bytes, the zip says ${entry.uncompressedSize}`,
        );
      if (crc !== entry.crc32)
        throw bad(name, `${JSON.stringify(rel)} is corrupt (its CRC-32 is not the zip's)`);
    }
  } finally {
    zip.close();
  }
  return { files, bytes: written };
}
