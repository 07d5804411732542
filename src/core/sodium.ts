import { createRequire } from "node:module";

/**
 * The optional dependency sodium-native (libsodium, prebuilt): loaded once where it is
 * installed and loads, `null` elsewhere and with `SOCKETKIT_NO_NATIVE=1`. Its users keep
 * a path of their own for `null`, so socketkit works without it.
 * @module
 */

/** The calls of sodium-native socketkit uses. */
export interface Sodium {
  crypto_secretbox_easy(c: Uint8Array, m: Uint8Array, n: Uint8Array, k: Uint8Array): void;
  crypto_secretbox_open_easy(m: Uint8Array, c: Uint8Array, n: Uint8Array, k: Uint8Array): boolean;
  /** Writes `m`'s ciphertext and then its 16-byte tag into `c`; returns their length. */
  crypto_aead_chacha20poly1305_ietf_encrypt(
    c: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array | null,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  /** Opens `c` (ciphertext, then the tag) into `m`; throws when the tag does not check. */
  crypto_aead_chacha20poly1305_ietf_decrypt(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    ad: Uint8Array | null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
}

function load(): Sodium | null {
  if (process.env.SOCKETKIT_NO_NATIVE) return null;
  try {
    return createRequire(import.meta.url)("sodium-native") as Sodium;
  } catch {
    return null;
  }
}

/** sodium-native, or `null` where it cannot be had. */
export const sodium: Sodium | null = load();
