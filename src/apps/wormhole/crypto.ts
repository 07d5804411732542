import { randomBytes } from "node:crypto";
import { xsalsa20poly1305 } from "@noble/ciphers/salsa.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";

/**
 * Magic Wormhole's key derivation and encryption: HKDF-SHA256 (no salt) from the PAKE key
 * to a purpose, and NaCl secretbox (XSalsa20-Poly1305) with the 24-byte nonce sent in
 * front of the box, as PyNaCl's `SecretBox.encrypt` writes it.
 * @module
 */

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
  const box = xsalsa20poly1305(key, n).encrypt(plaintext);
  return Buffer.concat([n, box]);
}

/** The plaintext of nonce ‖ secretbox, or null when it does not open under `key`. */
export function open(key: Uint8Array, sealed: Uint8Array): Buffer | null {
  if (sealed.length < NONCE_SIZE + TAG_SIZE) return null;
  try {
    const nonce = sealed.subarray(0, NONCE_SIZE);
    return Buffer.from(xsalsa20poly1305(key, nonce).decrypt(sealed.subarray(NONCE_SIZE)));
  } catch {
    return null;
  }
}
