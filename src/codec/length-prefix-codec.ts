import { FrameTooLargeError, IncompleteReadError } from "../core/errors.ts";
import { ChunkQueue } from "./chunk-queue.ts";

/** Size of the length header: an unsigned 32-bit big-endian integer. */
const HEADER_SIZE = 4;
const MAX_UINT32 = 0xffffffff;
const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;

// Decoder states.
const READ_HEADER = 0;
const READ_BODY = 1;

/** Options for {@linkcode LengthPrefixCodec}. */
export interface LengthPrefixCodecOptions {
  /**
   * Largest payload accepted, in bytes, when encoding and decoding. A frame declaring more
   * is rejected with `FrameTooLargeError` on sight of its header, before anything is
   * allocated for it. The wire format cannot carry more than 4294967295 bytes whatever
   * this is set to.
   *
   * @default {16777216} (16 MiB)
   */
  maxFrameSize?: number;
}

function resolveMaxFrameSize(options: LengthPrefixCodecOptions): number {
  const max = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  if (!(max >= 0) || (!Number.isInteger(max) && max !== Number.POSITIVE_INFINITY)) {
    throw new RangeError(
      `Cannot create LengthPrefixCodec: maxFrameSize must be a non-negative integer, got ${max}`,
    );
  }
  return max;
}

/** Throws unless `length` can be framed under `maxFrameSize`. */
function checkLength(length: number, maxFrameSize: number): void {
  if (!Number.isInteger(length) || length < 0) {
    throw new RangeError(
      `Cannot encode frame: length must be a non-negative integer, got ${length}`,
    );
  }
  const limit = Math.min(maxFrameSize, MAX_UINT32);
  if (length > limit) throw new FrameTooLargeError(length, limit);
}

function header(length: number, maxFrameSize: number): Buffer {
  checkLength(length, maxFrameSize);
  const out = Buffer.allocUnsafe(HEADER_SIZE);
  out.writeUInt32BE(length, 0);
  return out;
}

function frame(payload: Buffer, maxFrameSize: number): Buffer {
  checkLength(payload.length, maxFrameSize);
  const out = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  out.writeUInt32BE(payload.length, 0);
  payload.copy(out, HEADER_SIZE);
  return out;
}

/**
 * Length-prefixed framing: each message is a 4-byte unsigned big-endian length followed by
 * that many bytes of payload. Encoding is a pair of functions; decoding is a state machine
 * over Buffers (reading the header, then the body) with no transport inside. The caller
 * pushes each chunk it receives, then calls `next()` until it returns `undefined`.
 *
 * A payload that lies inside one chunk is returned as a `subarray` view of it; one spanning
 * chunks is copied once, when all of it has arrived, into a buffer of the declared size.
 * Nothing is allocated ahead of the bytes received, so memory held is bounded by
 * `maxFrameSize` plus the chunk just pushed.
 *
 * A header declaring more than `maxFrameSize` is fatal: a stream cannot resynchronise after
 * a bad frame, so the codec drops its buffer and every later `push`, `next` or `end`
 * throws the same `FrameTooLargeError`.
 *
 * @example
 * ```ts
 * import { LengthPrefixCodec } from "socketkit";
 * const codec = new LengthPrefixCodec({ maxFrameSize: 1024 });
 * const wire = Buffer.concat([codec.encode(Buffer.from("hello")), codec.encode(Buffer.from("!"))]);
 * codec.push(wire.subarray(0, 6));
 * codec.next(); // undefined: 2 of the 5 payload bytes so far
 * codec.push(wire.subarray(6));
 * codec.next()?.toString(); // "hello"
 * codec.next()?.toString(); // "!"
 * codec.end(); // undefined: nothing left over
 * ```
 */
export class LengthPrefixCodec {
  /**
   * Frames `payload`: a new Buffer holding its length header and a copy of it.
   *
   * @example
   * ```ts
   * import { LengthPrefixCodec } from "socketkit";
   * LengthPrefixCodec.encode(Buffer.from("hi")); // <Buffer 00 00 00 02 68 69>
   * ```
   * @throws {FrameTooLargeError} When the payload is longer than `maxFrameSize` or than
   * 4294967295 bytes.
   */
  static encode(payload: Buffer, options: LengthPrefixCodecOptions = {}): Buffer {
    return frame(payload, resolveMaxFrameSize(options));
  }

  /**
   * The 4-byte header for a payload of `length` bytes, for writing header and payload
   * without copying (`socket.writev([header, payload])`).
   *
   * @example
   * ```ts
   * import { LengthPrefixCodec } from "socketkit";
   * LengthPrefixCodec.encodeHeader(258); // <Buffer 00 00 01 02>
   * ```
   * @throws {FrameTooLargeError} When `length` exceeds `maxFrameSize` or 4294967295.
   * @throws {RangeError} When `length` is not a non-negative integer.
   */
  static encodeHeader(length: number, options: LengthPrefixCodecOptions = {}): Buffer {
    return header(length, resolveMaxFrameSize(options));
  }

  readonly #maxFrameSize: number;

  readonly #queue = new ChunkQueue();

  #state = READ_HEADER;
  /** Payload length declared by the current header (valid in READ_BODY). */
  #bodyLength = 0;
  /** Set once a frame is rejected; the stream is then unusable. */
  #error: FrameTooLargeError | undefined;

  constructor(options: LengthPrefixCodecOptions = {}) {
    this.#maxFrameSize = resolveMaxFrameSize(options);
  }

  /** Bytes held: received but not yet returned as payloads (headers included). */
  get bufferedLength(): number {
    return this.#queue.length;
  }

  /** As the static {@linkcode LengthPrefixCodec.encode}, with this codec's `maxFrameSize`. */
  encode(payload: Buffer): Buffer {
    return frame(payload, this.#maxFrameSize);
  }

  /** As the static {@linkcode LengthPrefixCodec.encodeHeader}, with this codec's `maxFrameSize`. */
  encodeHeader(length: number): Buffer {
    return header(length, this.#maxFrameSize);
  }

  /**
   * Appends a chunk of input. The chunk is kept by reference, not copied.
   *
   * @throws {FrameTooLargeError} When an earlier frame was rejected.
   */
  push(chunk: Buffer): void {
    if (this.#error !== undefined) throw this.#error;
    this.#queue.push(chunk);
  }

  /**
   * Returns the next complete payload, or `undefined` when none is buffered.
   *
   * @throws {FrameTooLargeError} As soon as a header declaring more than `maxFrameSize` is
   * buffered, and on every call after that.
   */
  next(): Buffer | undefined {
    if (this.#error !== undefined) throw this.#error;
    if (this.#state === READ_HEADER) {
      if (this.#queue.length < HEADER_SIZE) return undefined;
      const size = this.#queue.take(HEADER_SIZE).readUInt32BE(0);
      if (size > this.#maxFrameSize) this.#fail(new FrameTooLargeError(size, this.#maxFrameSize));
      this.#bodyLength = size;
      this.#state = READ_BODY;
    }
    if (this.#queue.length < this.#bodyLength) return undefined;
    this.#state = READ_HEADER;
    return this.#queue.take(this.#bodyLength);
  }

  /**
   * Signals the end of input: returns the next complete payload if one is still buffered
   * (as `next()` would), else `undefined` when the input ended on a frame boundary. Called
   * after `next()` has returned `undefined`, it returns `undefined` or throws.
   *
   * @throws {IncompleteReadError} When the input ended inside a frame. `partial` holds the
   * bytes of that frame received (header included) and `expected` the frame's full size
   * (4 while the header itself is incomplete). The codec is left empty.
   * @throws {FrameTooLargeError} When an earlier frame was rejected.
   */
  end(): Buffer | undefined {
    const payload = this.next();
    if (payload !== undefined) return payload;
    const left = this.#queue.length;
    if (this.#state === READ_HEADER && left === 0) return undefined;
    let partial: Buffer;
    let expected: number;
    if (this.#state === READ_HEADER) {
      partial = this.#queue.take(left);
      expected = HEADER_SIZE;
    } else {
      partial = Buffer.concat([header(this.#bodyLength, MAX_UINT32), this.#queue.take(left)]);
      expected = HEADER_SIZE + this.#bodyLength;
    }
    this.#state = READ_HEADER;
    this.#bodyLength = 0;
    throw new IncompleteReadError(partial, expected);
  }

  /** Makes the codec unusable with `error` and throws it. */
  #fail(error: FrameTooLargeError): never {
    this.#error = error;
    this.#queue.clear();
    throw error;
  }
}
