import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { xsalsa20poly1305 } from "@noble/ciphers/salsa.js";
import { deriveKey, derivePhaseKey, open, SECRETBOX, seal } from "./crypto.ts";

// Vectors from magic-wormhole 0.12 and PyNaCl 1.5 (SecretBox, derive_phase_key, derive_key)
// with the key 00 01 02 ... 1f.
const key = Uint8Array.from({ length: 32 }, (_, i) => i);

test("secretbox seals as PyNaCl's SecretBox.encrypt: nonce, then tag and ciphertext", () => {
  assert.equal(
    seal(key, Buffer.from("hello"), new Uint8Array(24)).toString("hex"),
    `${"00".repeat(24)}9031d88e6447f0b8bf44357c58bf25f4226b9c2df7`,
  );
  assert.equal(String(open(key, seal(key, Buffer.from("round trip")))), "round trip");
});

test("a box opened with another key, cut short or altered gives null", () => {
  const box = seal(key, Buffer.from("secret"));
  assert.equal(open(new Uint8Array(32), box), null);
  assert.equal(open(key, box.subarray(0, 30)), null);
  box[box.length - 1] = (box[box.length - 1] as number) ^ 1;
  assert.equal(open(key, box), null);
});

test("phase keys and derived keys match magic-wormhole's", () => {
  assert.equal(
    derivePhaseKey(key, "abcd", "version").toString("hex"),
    "3bff54eeba8bd47252f3c42372f8f7afc7f2aaffbafda0fa0c8dd69a278b4341",
  );
  assert.equal(
    deriveKey(key, "wormhole:verifier").toString("hex"),
    "116c6e41d0faf2886a5b488079748585db2c4d6d151cca6c580055e1bd176459",
  );
});

test("the secretbox in use (libsodium where sodium-native loads) makes @noble/ciphers' bytes", () => {
  if (process.env.SOCKETKIT_NO_NATIVE === undefined) assert.equal(SECRETBOX, "libsodium");
  for (const size of [0, 1, 63, 64, 65, 1024 * 1024 + 3]) {
    const data = randomBytes(size);
    const nonce = randomBytes(24);
    const theirs = Buffer.from(xsalsa20poly1305(key, nonce).encrypt(data));
    assert.ok(seal(key, data, nonce).equals(Buffer.concat([nonce, theirs])), `size ${size}`);
    assert.ok(open(key, Buffer.concat([nonce, theirs]))?.equals(data), `size ${size}`);
  }
});
