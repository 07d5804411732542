import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from "node:crypto";
import { ArgumentError, TransferError } from "../core/errors.ts";
import { sodium } from "../core/sodium.ts";
import { ChunkQueue } from "./chunk-queue.ts";

/**
 * The encrypted record layer of socketkit's file transfer with a secret: ChaCha20-Poly1305
 * records, one key and one record counter per direction. Pure: no I/O, the transfer app
 * writes the sealed records and pushes what it reads into the opener.
 *
 * A record on the wire is a u32 big-endian length (of ciphertext and tag), the ciphertext,
 * then the 16-byte Poly1305 tag. The nonce is 4 zero bytes and the record's number as a
 * u64 big-endian, counted from 0 in each direction, so a record that is dropped, replayed
 * or moved fails to open. The 4 length bytes are the additional authenticated data.
 * @module
 */

/** Most plaintext bytes in one record; `seal` splits longer input. */
export const MAX_RECORD_PLAINTEXT = 256 * 1024;
/** Bytes of the Poly1305 tag at the end of every record. */
export const RECORD_TAG_SIZE = 16;
/** Bytes of the length field before every record. */
const HEADER_SIZE = 4;
const KEY_SIZE = 32;
const NONCE_SIZE = 12;
const MAX_RECORD_BODY = MAX_RECORD_PLAINTEXT + RECORD_TAG_SIZE;
/** Bytes a record adds to its plaintext: the length field and the tag. */
export const RECORD_OVERHEAD = HEADER_SIZE + RECORD_TAG_SIZE;
/** Nonces are a u64 record number: this many records exhaust a key. */
const RECORD_LIMIT = 1n << 64n;
const ALGORITHM = "chacha20-poly1305";

// Opener states.
const READ_HEADER = 0;
const READ_BODY = 1;

/**
 * The 12-byte nonce of record number `counter`: 4 zero bytes, then the number as a u64
 * big-endian.
 *
 * @example
 * ```ts
 * import { recordNonce } from "./sealed-records.ts";
 * recordNonce(258n); // <Buffer 00 00 00 00 00 00 00 00 00 00 01 02>
 * ```
 * @throws {TransferError} `ERR_TRANSFER_PROTOCOL` when `counter` is 2^64 or more (the key
 * is used up: a nonce must never repeat) or negative.
 */
export function recordNonce(counter: bigint): Buffer {
  if (counter < 0n || counter >= RECORD_LIMIT) {
    throw new TransferError(
      `Cannot number record ${counter}: one key carries at most 2^64 records, numbered from 0`,
      { code: "ERR_TRANSFER_PROTOCOL" },
    );
  }
  const nonce = Buffer.alloc(NONCE_SIZE);
  nonce.writeBigUInt64BE(counter, NONCE_SIZE - 8);
  return nonce;
}

/**
 * Bytes on the wire of `plainLength` bytes sealed by one `seal` or `sealInto` call: the
 * plaintext and {@link RECORD_OVERHEAD} per record of up to `MAX_RECORD_PLAINTEXT` bytes.
 *
 * @example
 * ```ts
 * import { sealedLength } from "./sealed-records.ts";
 * sealedLength(1024 * 1024); // 1048656: four records of 256 KiB, 20 bytes each more
 * ```
 */
export function sealedLength(plainLength: number): number {
  return plainLength + Math.ceil(plainLength / MAX_RECORD_PLAINTEXT) * RECORD_OVERHEAD;
}

/**
 * The key as each cipher takes it: libsodium's ChaCha20-Poly1305 (sodium-native, where it
 * loads) seals into the caller's buffer and opens with no cipher object per record, which
 * spared a 1 GiB transfer about 0.2 s of cipher set-up and most of its garbage; Node's
 * (OpenSSL's) elsewhere. Both make the same records (RFC 8439).
 */
type RecordKey = { raw: Buffer; object: null } | { raw: null; object: KeyObject };

function secretKey(key: Uint8Array, owner: string): RecordKey {
  if (key.length !== KEY_SIZE) {
    throw new ArgumentError(
      `Cannot create ${owner}: the key must be ${KEY_SIZE} bytes, got ${key.length}`,
    );
  }
  // Each holds its own copy: later changes to `key` do not reach the records.
  return sodium !== null
    ? { raw: Buffer.from(key), object: null }
    : { raw: null, object: createSecretKey(Uint8Array.from(key)) };
}

/**
 * Seals one direction of a connection into records. Each call of `seal` returns the
 * records to write, in order; the records' numbers continue from one call to the next.
 *
 * @example
 * ```ts
 * import { RecordOpener, RecordSealer } from "./sealed-records.ts";
 * const key = crypto.getRandomValues(new Uint8Array(32));
 * const records = new RecordSealer(key).seal(Buffer.from("hello"));
 * const opener = new RecordOpener(key);
 * for (const r of records) opener.push(r);
 * opener.next()?.toString(); // "hello"
 * ```
 */
export class RecordSealer {
  readonly #key: RecordKey;
  #counter = 0n;

  /**
   * @param key This direction's 32-byte key; the other direction must use another.
   * @throws {ArgumentError} `ERR_INVALID_ARGUMENT` when the key is not 32 bytes.
   */
  constructor(key: Uint8Array) {
    this.#key = secretKey(key, "RecordSealer");
  }

  /**
   * `plain` as wire records: one per `MAX_RECORD_PLAINTEXT` bytes, each a new Buffer
   * (length, ciphertext, tag). Empty input gives no record.
   *
   * @throws {TransferError} `ERR_TRANSFER_PROTOCOL` when the records would take the
   * counter past 2^64; nothing is sealed then.
   */
  seal(plain: Uint8Array): Buffer[] {
    this.#reserve(plain.length);
    const records: Buffer[] = [];
    for (let at = 0; at < plain.length; at += MAX_RECORD_PLAINTEXT) {
      const part = plain.subarray(at, at + MAX_RECORD_PLAINTEXT);
      const record = Buffer.allocUnsafe(part.length + RECORD_OVERHEAD);
      this.#sealOne(part, record, 0);
      records.push(record);
    }
    return records;
  }

  /**
   * Seals `plain` as `seal` does, into `out` from `at` (a sender's reused buffer, so no
   * buffer is allocated for the records), and returns the bytes written,
   * {@link sealedLength} of `plain`'s. `plain` must not overlap what is written.
   *
   * @throws {ArgumentError} `ERR_INVALID_ARGUMENT` when `out` has no room for the records.
   * @throws {TransferError} `ERR_TRANSFER_PROTOCOL` as `seal`.
   */
  sealInto(plain: Uint8Array, out: Buffer, at: number): number {
    const length = sealedLength(plain.length);
    if (at < 0 || at + length > out.length) {
      throw new ArgumentError(
        `Cannot seal ${plain.length} bytes into ${out.length - at} bytes: the records take ${length}`,
      );
    }
    this.#reserve(plain.length);
    let to = at;
    for (let from = 0; from < plain.length; from += MAX_RECORD_PLAINTEXT) {
      to += this.#sealOne(plain.subarray(from, from + MAX_RECORD_PLAINTEXT), out, to);
    }
    return length;
  }

  /** Throws, sealing nothing, when `plainLength` bytes would take the counter past 2^64. */
  #reserve(plainLength: number): void {
    const count = Math.ceil(plainLength / MAX_RECORD_PLAINTEXT);
    if (this.#counter + BigInt(count) > RECORD_LIMIT) recordNonce(RECORD_LIMIT);
  }

  /** One record of `plain` (at most a record's worth) at `out[at]`; returns its size. */
  #sealOne(plain: Uint8Array, out: Buffer, at: number): number {
    const nonce = recordNonce(this.#counter);
    this.#counter++;
    out.writeUInt32BE(plain.length + RECORD_TAG_SIZE, at);
    const { raw, object } = this.#key;
    if (raw !== null) {
      const body = at + HEADER_SIZE;
      (sodium as NonNullable<typeof sodium>).crypto_aead_chacha20poly1305_ietf_encrypt(
        out.subarray(body, body + plain.length + RECORD_TAG_SIZE),
        plain,
        out.subarray(at, body),
        null,
        nonce,
        raw,
      );
      return plain.length + RECORD_OVERHEAD;
    }
    const cipher = createCipheriv(ALGORITHM, object, nonce, {
      authTagLength: RECORD_TAG_SIZE,
    });
    cipher.setAAD(out.subarray(at, at + HEADER_SIZE), { plaintextLength: plain.length });
    // Node.js has no update into a given buffer: one copy, cheap beside the cipher.
    const body = cipher.update(plain);
    body.copy(out, at + HEADER_SIZE);
    cipher.final();
    cipher.getAuthTag().copy(out, at + HEADER_SIZE + body.length);
    return plain.length + RECORD_OVERHEAD;
  }
}

/**
 * Opens one direction's records: a state machine over Buffers (the length field, then
 * the body) with no transport inside, as socketkit's other codecs. The caller pushes each
 * chunk it reads, then calls `next()` until it returns `undefined`.
 *
 * A record's bytes are copied only when they span chunks. A length field over
 * `MAX_RECORD_PLAINTEXT + 16` is refused as soon as its 4 bytes are in, before anything
 * is allocated for it, so memory held stays under one record plus the chunk just pushed.
 * Any failure is fatal: the opener drops its buffer and every later `push` or `next`
 * throws the same error.
 *
 * @example
 * ```ts
 * import { RecordOpener, RecordSealer } from "./sealed-records.ts";
 * const key = crypto.getRandomValues(new Uint8Array(32));
 * const wire = Buffer.concat(new RecordSealer(key).seal(Buffer.from("hello")));
 * const opener = new RecordOpener(key);
 * opener.push(wire.subarray(0, 10));
 * opener.next(); // undefined: the record is not all here yet
 * opener.push(wire.subarray(10));
 * opener.next()?.toString(); // "hello"
 * ```
 */
export class RecordOpener {
  readonly #key: RecordKey;
  readonly #queue = new ChunkQueue();
  /** The current record's length field, the additional authenticated data. */
  readonly #header = Buffer.alloc(HEADER_SIZE);
  #counter = 0n;
  #state = READ_HEADER;
  /** Ciphertext and tag bytes of the current record (valid in READ_BODY). */
  #bodyLength = 0;
  /** Set once a record is refused; the stream is then unusable. */
  #error: TransferError | undefined;

  /**
   * @param key The peer's sending key for this direction, 32 bytes.
   * @throws {ArgumentError} `ERR_INVALID_ARGUMENT` when the key is not 32 bytes.
   */
  constructor(key: Uint8Array) {
    this.#key = secretKey(key, "RecordOpener");
  }

  /** Bytes held: received but not yet returned as plaintext (lengths and tags included). */
  get buffered(): number {
    return this.#queue.length;
  }

  /**
   * Appends a chunk of input. The chunk is kept by reference, not copied.
   *
   * @throws {TransferError} When an earlier record was refused.
   */
  push(chunk: Buffer): void {
    if (this.#error !== undefined) throw this.#error;
    this.#queue.push(chunk);
  }

  /**
   * The next record's plaintext, or `undefined` when no whole record is buffered.
   *
   * @throws {TransferError} `ERR_TRANSFER_AUTH` when a record fails its tag: tampered
   * with, reordered, replayed, dropped before it, or sealed under another key.
   * `ERR_TRANSFER_PROTOCOL` when a length field is under 16 or over
   * `MAX_RECORD_PLAINTEXT + 16`, or after 2^64 records. Either on every call after that.
   */
  next(): Buffer | undefined {
    if (this.#error !== undefined) throw this.#error;
    if (this.#state === READ_HEADER) {
      if (this.#queue.length < HEADER_SIZE) return undefined;
      this.#queue.takeInto(this.#header, 0, HEADER_SIZE);
      this.#bodyLength = this.#checkLength(this.#header.readUInt32BE(0));
      this.#state = READ_BODY;
    }
    if (this.#queue.length < this.#bodyLength) return undefined;
    this.#state = READ_HEADER;
    return this.#open(this.#header, this.#queue.take(this.#bodyLength));
  }

  /**
   * The bytes pushed and not opened yet, from the start of a record (its length field,
   * even when `next` has read it), for a reader that takes the stream over with
   * {@link RecordOpener.wholeRecords} and {@link RecordOpener.openEach}; the opener then
   * holds nothing. A copy only when the bytes lie in several chunks.
   *
   * @throws {TransferError} When an earlier record was refused.
   */
  takeUnopened(): Buffer {
    if (this.#error !== undefined) throw this.#error;
    const rest = this.#queue.take(this.#queue.length);
    if (this.#state === READ_HEADER) return rest;
    this.#state = READ_HEADER;
    return Buffer.concat([this.#header, rest]);
  }

  /**
   * The whole records at the front of `wire[start, end)` (the bytes there starting at a
   * record's length field): where they `end` (`start` when none is whole) and the
   * `plain` bytes they carry. Reads only length fields, so that a reader can move the
   * last, partial record and read on before it opens the whole ones.
   *
   * @throws {TransferError} `ERR_TRANSFER_PROTOCOL` for a length field out of range, as
   * `next`; the opener is then unusable.
   */
  wholeRecords(wire: Buffer, start: number, end: number): { end: number; plain: number } {
    if (this.#error !== undefined) throw this.#error;
    let at = start;
    let plain = 0;
    while (at + HEADER_SIZE <= end) {
      const length = this.#checkLength(wire.readUInt32BE(at));
      if (at + HEADER_SIZE + length > end) break;
      at += HEADER_SIZE + length;
      plain += length - RECORD_TAG_SIZE;
    }
    return { end: at, plain };
  }

  /**
   * Opens the whole records of `wire[start, end)`, in order, as `next` would, handing
   * each plaintext to `each` (a new Buffer, `wire` is not changed), until `each` returns
   * false; returns where the first record not opened begins. For a reader that reads the
   * connection into buffers of its own: the opener must hold nothing (`buffered` is 0,
   * see {@link RecordOpener.takeUnopened}), and the records' numbers go on from its count.
   *
   * @throws {TransferError} As `next`, and `ERR_TRANSFER_PROTOCOL` when the opener holds
   * bytes.
   */
  openEach(wire: Buffer, start: number, end: number, each: (plain: Buffer) => boolean): number {
    if (this.#error !== undefined) throw this.#error;
    if (this.#queue.length > 0 || this.#state !== READ_HEADER) {
      throw new TransferError("Cannot open records out of place: the opener holds some", {
        code: "ERR_TRANSFER_PROTOCOL",
      });
    }
    let at = start;
    while (at + HEADER_SIZE <= end) {
      const length = this.#checkLength(wire.readUInt32BE(at));
      const body = at + HEADER_SIZE + length;
      if (body > end) break;
      const plain = this.#open(
        wire.subarray(at, at + HEADER_SIZE),
        wire.subarray(at + HEADER_SIZE, body),
      );
      at = body;
      if (!each(plain)) break;
    }
    return at;
  }

  /** `length` if a record may have it; fails the opener otherwise. */
  #checkLength(length: number): number {
    if (length > MAX_RECORD_BODY || length < RECORD_TAG_SIZE) {
      this.#fail(
        new TransferError(
          `The peer sent a record of ${length} bytes (${RECORD_TAG_SIZE} to ${MAX_RECORD_BODY}): not this protocol`,
          { code: "ERR_TRANSFER_PROTOCOL" },
        ),
      );
    }
    return length;
  }

  /** The plaintext of the next record, given its length field (the AAD) and its body. */
  #open(header: Buffer, body: Buffer): Buffer {
    let nonce: Buffer;
    try {
      nonce = recordNonce(this.#counter);
    } catch (err) {
      this.#fail(err as TransferError);
    }
    const plainLength = body.length - RECORD_TAG_SIZE;
    const { raw, object } = this.#key;
    if (raw !== null) {
      const plain = Buffer.allocUnsafe(plainLength);
      try {
        (sodium as NonNullable<typeof sodium>).crypto_aead_chacha20poly1305_ietf_decrypt(
          plain,
          null,
          body,
          header,
          nonce,
          raw,
        );
      } catch {
        this.#failAuth();
      }
      this.#counter++;
      return plain;
    }
    const decipher = createDecipheriv(ALGORITHM, object, nonce, {
      authTagLength: RECORD_TAG_SIZE,
    });
    decipher.setAAD(header, { plaintextLength: plainLength });
    decipher.setAuthTag(body.subarray(plainLength));
    // Plaintext before final() is unauthenticated: it is returned only once the tag checks.
    const plain = decipher.update(body.subarray(0, plainLength));
    try {
      decipher.final();
    } catch {
      this.#failAuth();
    }
    this.#counter++;
    return plain;
  }

  /** The current record's tag did not check. */
  #failAuth(): never {
    this.#fail(
      new TransferError(
        `The peer's data failed its integrity check: record ${this.#counter} does not open under this direction's key (altered, reordered, replayed, dropped, or another key)`,
        { code: "ERR_TRANSFER_AUTH" },
      ),
    );
  }

  /** Makes the opener unusable with `error` and throws it. */
  #fail(error: TransferError): never {
    this.#error = error;
    this.#queue.clear();
    throw error;
  }
}
