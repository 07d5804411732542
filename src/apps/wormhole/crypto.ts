import { randomBytes } from "node:crypto";
import { xsalsa20poly1305 } from "@noble/ciphers/salsa.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { sodium } from "../../core/sodium.ts";

/**
 * Magic Wormhole's key derivation and encryption: HKDF-SHA256 (no salt) from the PAKE key
 * to a purpose, and NaCl secretbox (XSalsa20-Poly1305) with the 24-byte nonce sent in
 * front of the box, as PyNaCl's `SecretBox.encrypt` writes it.
 *
 * The secretbox bounds a transfer's rate (every byte is sealed by one side and opened by
 * the other): libsodium's, through the optional dependency sodium-native (prebuilt),
 * seals 1.8 GB/s here where @noble/ciphers (JavaScript) seals 80 MB/s and opens 63, so
 * sodium-native is used where it loads, @noble/ciphers elsewhere (and with
 * `SOCKETKIT_NO_NATIVE=1`). Both make the same bytes.
 * @module
 */

/** Which secretbox seals and opens: `"libsodium"` (sodium-native) or `"noble"`. */
export const SECRETBOX: "libsodium" | "noble" = sodium === null ? "noble" : "libsodium";

const encoder = new TextEncoder();
/** Bytes of a secretbox nonce. */
export const NONCE_SIZE = 24;
/** Bytes a secretbox adds to its plaintext (the Poly1305 tag). */
export const TAG_SIZE = 16;

/** `HKDF(key, length, CTXinfo=purpose)` of magic-wormhole: SHA-256, no salt. */
export function deriveKey(key: Uint8Array, purpose: Uint8Array | string, length = 32): Buffer {
  const info = typeof purpose === "string" ? encoder.encode(purpose) : purpose;
  return Buffer.from(hkdf(sha256, key, undefined, info, length));
}

/** The key of one side's message of one phase: purpose `wormhole:phase:` ‖ SHA256(side) ‖ SHA256(phase). */
export function derivePhaseKey(key: Uint8Array, side: string, phase: string): Buffer {
  const purpose = Buffer.concat([
    Buffer.from("wormhole:phase:"),
    sha256(encoder.encode(side)),
    sha256(encoder.encode(phase)),
  ]);
  return deriveKey(key, purpose);
}

/** nonce ‖ secretbox(plaintext), with a random nonce unless one is given. */
export function seal(key: Uint8Array, plaintext: Uint8Array, nonce?: Uint8Array): Buffer {
  const n = nonce ?? randomBytes(NONCE_SIZE);
  if (sodium !== null) {
    const out = Buffer.allocUnsafe(NONCE_SIZE + TAG_SIZE + plaintext.length);
    out.set(n, 0);
    sodium.crypto_secretbox_easy(out.subarray(NONCE_SIZE), plaintext, n, key);
    return out;
  }
  const box = xsalsa20poly1305(key, n).encrypt(plaintext);
  return Buffer.concat([n, box]);
}

/**
 * Writes nonce ‖ secretbox(plaintext) into `out` (which must hold {@link NONCE_SIZE} +
 * {@link TAG_SIZE} + the plaintext's bytes): with libsodium, sealed in place, no copy.
 */
export function sealInto(
  key: Uint8Array,
  plaintext: Uint8Array,
  nonce: Uint8Array,
  out: Buffer,
): void {
  if (sodium !== null) {
    out.set(nonce, 0);
    sodium.crypto_secretbox_easy(
      out.subarray(NONCE_SIZE, NONCE_SIZE + TAG_SIZE + plaintext.length),
      plaintext,
      nonce,
      key,
    );
    return;
  }
  out.set(seal(key, plaintext, nonce), 0);
}

/**
 * Opens nonce ‖ secretbox into `out` (which must hold the plaintext: the sealed bytes
 * less {@link NONCE_SIZE} and {@link TAG_SIZE}); false when it does not open under `key`.
 */
export function openInto(key: Uint8Array, sealed: Uint8Array, out: Uint8Array): boolean {
  if (sealed.length < NONCE_SIZE + TAG_SIZE) return false;
  if (sodium !== null)
    return sodium.crypto_secretbox_open_easy(
      out.subarray(0, sealed.length - NONCE_SIZE - TAG_SIZE),
      sealed.subarray(NONCE_SIZE),
      sealed.subarray(0, NONCE_SIZE),
      key,
    );
  const plain = open(key, sealed);
  if (plain === null) return false;
  out.set(plain, 0);
  return true;
}

/** The plaintext of nonce ‖ secretbox, or null when it does not open under `key`. */
export function open(key: Uint8Array, sealed: Uint8Array): Buffer | null {
  if (sealed.length < NONCE_SIZE + TAG_SIZE) return null;
  try {
    const nonce = sealed.subarray(0, NONCE_SIZE);
    if (sodium !== null) {
      const plain = Buffer.allocUnsafe(sealed.length - NONCE_SIZE - TAG_SIZE);
      return sodium.crypto_secretbox_open_easy(plain, sealed.subarray(NONCE_SIZE), nonce, key)
        ? plain
        : null;
    }
    return Buffer.from(xsalsa20poly1305(key, nonce).decrypt(sealed.subarray(NONCE_SIZE)));
  } catch {
    return null;
  }
}
