import { randomBytes } from "node:crypto";
import type { EdwardsPoint } from "@noble/curves/abstract/edwards.js";
import { ed25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { TransferError } from "../../core/errors.ts";

/**
 * SPAKE2 over Ed25519 in its symmetric mode, byte for byte as python-spake2 0.8 defines it
 * (`spake2.SPAKE2_Symmetric` with `ParamsEd25519`), which is what magic-wormhole runs: two
 * sides that share a password, neither of them "A" or "B", each send one 33-byte message
 * and derive the same 32-byte key, or different keys when the passwords differ. Pure: no
 * I/O, the transfer app carries the messages.
 * @module
 */

type Point = EdwardsPoint;

const Point = ed25519.Point;
/** The field prime, 2^255 - 19. */
const P = Point.Fp.ORDER;
/** The order of the prime-order subgroup, 2^252 + 27742317777372353535851937790883648493. */
const L = Point.Fn.ORDER;

/** python-spake2's side byte for the symmetric mode; "A" and "B" are the asymmetric sides. */
const SIDE_SYMMETRIC = 0x53; // "S"
const SIDE_A = 0x41;
const SIDE_B = 0x42;
const ELEMENT_SIZE = 32;
/** Bytes of a message: the side byte, then a compressed point. */
const MESSAGE_SIZE = 1 + ELEMENT_SIZE;
const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

function bytesOf(value: Uint8Array | string): Uint8Array {
  return typeof value === "string" ? encoder.encode(value) : Uint8Array.from(value);
}

function bigEndian(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString("hex")}`);
}

function littleEndian32(n: bigint): Uint8Array {
  const out = new Uint8Array(ELEMENT_SIZE);
  let v = n;
  for (let i = 0; i < ELEMENT_SIZE; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** python-spake2's `HKDF(salt=b"", ikm=data, hash=sha256).expand(info, length)`. */
function expand(data: Uint8Array, info: string, length: number): Uint8Array {
  return hkdf(sha256, data, EMPTY, encoder.encode(info), length);
}

/**
 * python-spake2's `password_to_scalar`: HKDF-SHA256 of the password (empty salt, info
 * `"SPAKE2 pw"`) to 48 bytes, read as a big-endian integer, reduced modulo the subgroup
 * order L. The 16 extra bytes keep the reduction's bias negligible. Exported for interop
 * checks; a session never needs it.
 *
 * @example
 * ```ts
 * import { passwordToScalar } from "./spake2.ts";
 * passwordToScalar("hunter2"); // 2332705937370482279336580119481241731904519969773781888575784812833217371420n
 * ```
 */
export function passwordToScalar(password: Uint8Array | string): bigint {
  return bigEndian(expand(bytesOf(password), "SPAKE2 pw", 32 + 16)) % L;
}

/**
 * python-spake2's `arbitrary_element(seed)` for Ed25519: a point of the prime-order
 * subgroup whose discrete logarithm nobody knows. HKDF-SHA256 of the seed (empty salt,
 * info `"SPAKE2 arbitrary element"`) to 48 bytes, read big-endian modulo 2^255 - 19, gives
 * a y; the first of y, y + 1, y + 2, ... that lies on the curve (with the even x) is
 * multiplied by the cofactor 8, and that point is the element unless it is the identity.
 */
function arbitraryPoint(seed: Uint8Array): Point {
  const y = bigEndian(expand(seed, "SPAKE2 arbitrary element", 32 + 16)) % P;
  for (let plus = 0n; ; plus++) {
    // Sign bit 0 asks for the even x, the root python's xrecover settles on.
    let candidate: Point;
    try {
      candidate = Point.fromBytes(littleEndian32((y + plus) % P));
    } catch {
      continue; // not on the curve: python's isoncurve fails the same y values
    }
    const element = candidate.clearCofactor();
    if (element.is0()) continue;
    if (!element.isTorsionFree()) throw new Error("Cannot derive a SPAKE2 element: 8P not in L");
    return element;
  }
}

/**
 * The 32-byte encoding of python-spake2's `arbitrary_element(seed)` on Ed25519: seeds
 * `"M"`, `"N"` and `"symmetric"` give its M, N and S. Exported for interop checks.
 *
 * @example
 * ```ts
 * import { arbitraryElement } from "./spake2.ts";
 * arbitraryElement("symmetric").toString("hex"); // "6f00dae8...6ab8e6f1"
 * ```
 */
export function arbitraryElement(seed: Uint8Array | string): Buffer {
  return Buffer.from(arbitraryPoint(bytesOf(seed)).toBytes());
}

/** python-spake2's S: the blinding element both sides of a symmetric session use. */
const S = arbitraryPoint(encoder.encode("symmetric"));

/** `point * scalar` for a secret scalar, constant time; any scalar modulo L. */
function times(point: Point, scalar: bigint): Point {
  const s = ((scalar % L) + L) % L;
  return s === 0n || point.is0() ? Point.ZERO : point.multiply(s);
}

/** A uniform scalar in [1, L): 64 random bytes, big-endian, modulo L, as python draws it. */
function randomScalar(): bigint {
  for (;;) {
    const s = bigEndian(randomBytes(64)) % L;
    // python-spake2 would go on with 0 (probability 2^-252); it is no key at all.
    if (s !== 0n) return s;
  }
}

function refused(why: string, action = "finish"): TransferError {
  return new TransferError(`Cannot ${action} the secret handshake: ${why}`, {
    code: "ERR_TRANSFER_AUTH",
  });
}

/**
 * One side of a symmetric SPAKE2 session, interoperable with python-spake2's
 * `SPAKE2_Symmetric(password, idSymmetric=...)` (magic-wormhole's PAKE): `start()` gives
 * the message to send, `finish()` takes the peer's and gives the shared key. Both sides
 * get the same key only when their passwords and `idSymmetric` are the same; a wrong
 * password gives a different key and no error, so the caller must confirm the key (a MAC
 * over a known string) before trusting it.
 *
 * The message is `"S"` then the 32-byte point `x·G + pw·S`. The key is
 * `SHA256(SHA256(pw) ‖ SHA256(idSymmetric) ‖ min(m1, m2) ‖ max(m1, m2) ‖ K)` where m1 and
 * m2 are the two points as sent (sorted bytewise, since neither side comes first) and
 * `K = x·(Y − pw·S)`.
 *
 * Stricter than python-spake2, which never sends what this refuses: only 33-byte messages,
 * only side byte `"S"`, only canonical point encodings (python also accepts three
 * non-canonical encodings of the identity).
 *
 * @example
 * ```ts
 * import { Spake2Symmetric } from "./spake2.ts";
 * const alice = new Spake2Symmetric("7-guitarist-revenge", "lothar.com/wormhole/text-or-file-xfer");
 * const bob = new Spake2Symmetric("7-guitarist-revenge", "lothar.com/wormhole/text-or-file-xfer");
 * const a = alice.start();
 * const b = bob.start();
 * alice.finish(b).equals(bob.finish(a)); // true
 * ```
 */
export class Spake2Symmetric {
  readonly #password: Uint8Array;
  readonly #idSymmetric: Uint8Array;
  readonly #pwScalar: bigint;
  #scalar = 0n;
  /** The point sent, without the side byte; undefined before `start()`. */
  #outbound: Uint8Array | undefined;
  #finished = false;

  /**
   * @param password The shared secret; a string is taken as its UTF-8 bytes.
   * @param idSymmetric What both sides bind the key to (an application name), empty when
   * omitted; a string is taken as its UTF-8 bytes.
   */
  constructor(password: Uint8Array | string, idSymmetric: Uint8Array | string = EMPTY) {
    this.#password = bytesOf(password);
    this.#idSymmetric = bytesOf(idSymmetric);
    this.#pwScalar = passwordToScalar(this.#password);
  }

  /**
   * The message to send the peer: 33 bytes, `"S"` and a point. Callable once.
   *
   * @throws {TransferError} `ERR_TRANSFER_AUTH` when called a second time: a second
   * message under the same password would help an attacker.
   */
  start(): Buffer {
    if (this.#outbound !== undefined) throw refused("start() was already called", "start");
    this.#scalar = randomScalar();
    const element = Point.BASE.multiply(this.#scalar).add(times(S, this.#pwScalar));
    this.#outbound = element.toBytes();
    const out = Buffer.allocUnsafe(MESSAGE_SIZE);
    out[0] = SIDE_SYMMETRIC;
    out.set(this.#outbound, 1);
    return out;
  }

  /**
   * The 32-byte shared key from the peer's message. Callable once, after `start()`; a
   * refused message uses up the session too, as in python-spake2.
   *
   * @throws {TransferError} `ERR_TRANSFER_AUTH` when the message is not 33 bytes, its side
   * byte is not `"S"`, its point is not a canonical encoding of a curve point, is the
   * identity, lies outside the prime-order subgroup, or is this side's own message sent
   * back; and when called before `start()` or a second time.
   */
  finish(inbound: Uint8Array): Buffer {
    const outbound = this.#outbound;
    if (outbound === undefined) throw refused("finish() was called before start()");
    if (this.#finished) throw refused("finish() was already called");
    this.#finished = true;
    const scalar = this.#scalar;
    this.#scalar = 0n;

    if (inbound.length !== MESSAGE_SIZE) {
      throw refused(`the peer's message is ${inbound.length} bytes, not ${MESSAGE_SIZE}`);
    }
    const side = inbound[0] as number;
    if (side !== SIDE_SYMMETRIC) {
      throw refused(
        side === SIDE_A || side === SIDE_B
          ? `the peer is side "${String.fromCharCode(side)}" of an asymmetric session, not "S"`
          : `the peer's message starts with side byte 0x${side.toString(16).padStart(2, "0")}, not "S"`,
      );
    }
    const message = inbound.subarray(1);
    let element: Point;
    try {
      element = Point.fromBytes(message);
    } catch {
      throw refused("the peer's message is not a point on Ed25519");
    }
    if (element.is0()) throw refused("the peer's message is the identity point");
    if (!element.isTorsionFree()) {
      throw refused("the peer's point is not in the prime-order subgroup");
    }
    if (Buffer.from(message).equals(outbound)) {
      throw refused("the peer sent this side's own message back");
    }

    const shared = times(element.subtract(times(S, this.#pwScalar)), scalar);
    const [first, second] =
      Buffer.compare(message, outbound) <= 0 ? [message, outbound] : [outbound, message];
    const transcript = new Uint8Array(32 + 32 + 2 * ELEMENT_SIZE + ELEMENT_SIZE);
    transcript.set(sha256(this.#password), 0);
    transcript.set(sha256(this.#idSymmetric), 32);
    transcript.set(first, 64);
    transcript.set(second, 64 + ELEMENT_SIZE);
    transcript.set(shared.toBytes(), 64 + 2 * ELEMENT_SIZE);
    return Buffer.from(sha256(transcript));
  }
}
