import type { Readable } from "node:stream";
import yazl from "yazl";
import { TransferError } from "../../core/errors.ts";
import { listSources } from "../transfer/files.ts";

/**
 * A folder as Magic Wormhole sends one: a zip built while it is sent (yazl), its entries
 * stored rather than deflated, so that its size is known before a byte is read (the offer
 * gives it) and nothing is written to a temporary file or held in memory. wormhole's
 * receiver takes any entry Python's zipfile reads, stored ones included.
 * @module
 */

/** A folder ready to go: the offer's numbers and the zip's bytes. */
export interface FolderZip {
  /** The folder's name, as the receiver will make it. */
  dirname: string;
  /** Bytes of the zip. */
  zipsize: number;
  /** Bytes of the files. */
  numbytes: number;
  /** Number of files. */
  numfiles: number;
  /** Symbolic links and special files left out, by path. */
  skipped: string[];
  /** The zip, read once; fails if a file changes size while it is read. */
  stream: Readable;
}

/**
 * Lists the folder at `path` (as `send --to` lists one: links and special files left
 * out, an unreadable file fails the listing) and makes its zip: every file under its path
 * relative to the folder with its permission bits and time, every empty folder as an
 * entry of its own, ZIP64 where sizes need it.
 */
export async function zipFolder(path: string, dirname: string): Promise<FolderZip> {
  const tree = await listSources([path]);
  const prefix = `${dirname}/`;
  const zip = new yazl.ZipFile();
  let numbytes = 0;
  for (const file of tree.files) {
    numbytes += file.size;
    zip.addFile(file.abs, file.rel.slice(prefix.length), { compress: false });
  }
  for (const dir of tree.emptyDirs) {
    if (dir.length > prefix.length) zip.addEmptyDirectory(dir.slice(prefix.length));
  }
  const stream = zip.outputStream as Readable;
  const zipsize = await new Promise<number>((resolve, reject) => {
    zip.on("error", (err: Error) => {
      const failure = new TransferError(
        `Cannot send the folder ${JSON.stringify(path)}: ${err.message}`,
        { code: "ERR_TRANSFER_CHANGED" },
      );
      reject(failure);
      stream.destroy(failure);
    });
    (zip.end as (options: object, done: (size: number) => void) => void)({}, resolve);
  });
  if (zipsize < 0)
    throw new TransferError(
      `Cannot send the folder ${JSON.stringify(path)}: its zip's size is not known`,
      {
        code: "ERR_TRANSFER",
      },
    );
  return {
    dirname,
    zipsize,
    numbytes,
    numfiles: tree.files.length,
    skipped: tree.skipped,
    stream,
  };
}
