import assert from "node:assert/strict";
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import { bytePieces, cut } from "../../test/helpers/chunks.ts";
import {
  MAX_RECORD_PLAINTEXT,
  RECORD_OVERHEAD,
  RECORD_TAG_SIZE,
  RecordOpener,
  RecordSealer,
  recordNonce,
  sealedLength,
} from "./sealed-records.ts";

const AUTH = "ERR_TRANSFER_AUTH";
const PROTOCOL = "ERR_TRANSFER_PROTOCOL";

const KEY = Buffer.alloc(32, 0x42);
const OTHER_KEY = Buffer.alloc(32, 0x43);

/** Every plaintext buffered in `opener`. */
function drain(opener: RecordOpener): Buffer[] {
  const out: Buffer[] = [];
  for (let plain = opener.next(); plain !== undefined; plain = opener.next()) out.push(plain);
  return out;
}

/** Feeds `pieces` to a new opener, draining after each push. */
function openAll(pieces: readonly Buffer[], key: Uint8Array = KEY): Buffer[] {
  const opener = new RecordOpener(key);
  const out: Buffer[] = [];
  for (const piece of pieces) {
    opener.push(piece);
    out.push(...drain(opener));
  }
  assert.equal(opener.buffered, 0);
  return out;
}

/** The first error `pieces` raise in a new opener, or undefined if they open. */
function refusal(pieces: readonly Buffer[], key: Uint8Array = KEY): { code?: string } | undefined {
  try {
    openAll(pieces, key);
    return undefined;
  } catch (err) {
    return err as { code?: string };
  }
}

/** A copy of `input` with bit `bit` (counted from the first byte's low bit) flipped. */
function flipped(input: Buffer, bit: number): Buffer {
  const out = Buffer.from(input);
  const at = bit >> 3;
  out[at] = (input[at] as number) ^ (1 << (bit & 7));
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

const MESSAGES = [
  Buffer.from("hello"),
  Buffer.from("a"),
  Buffer.alloc(0),
  Buffer.from("records spanning chunks"),
  Buffer.alloc(70, 0xab),
];

describe("RecordSealer", () => {
  it("writes length, ciphertext and tag, with the length as AAD and nonce 0 first", () => {
    const plain = Buffer.from("the quick brown fox");
    const [record, ...rest] = new RecordSealer(KEY).seal(plain);
    assert.equal(rest.length, 0);
    assert.ok(record);
    assert.equal(record.length, 4 + plain.length + 16);
    assert.equal(record.readUInt32BE(0), plain.length + 16);
    // Opened by hand, independently of RecordOpener.
    const decipher = createDecipheriv("chacha20-poly1305", KEY, Buffer.alloc(12), {
      authTagLength: 16,
    });
    decipher.setAAD(record.subarray(0, 4), { plaintextLength: plain.length });
    decipher.setAuthTag(record.subarray(4 + plain.length));
    const opened = Buffer.concat([
      decipher.update(record.subarray(4, 4 + plain.length)),
      decipher.final(),
    ]);
    assert.deepEqual(opened, plain);
  });

  it("authenticates the length: the same record without the AAD does not open", () => {
    const plain = Buffer.from("length matters");
    const [record] = new RecordSealer(KEY).seal(plain);
    assert.ok(record);
    const decipher = createDecipheriv("chacha20-poly1305", KEY, Buffer.alloc(12), {
      authTagLength: 16,
    });
    decipher.setAuthTag(record.subarray(4 + plain.length));
    decipher.update(record.subarray(4, 4 + plain.length));
    assert.throws(() => decipher.final());
  });

  it("numbers records from 0 in big-endian, across calls", () => {
    const sealer = new RecordSealer(KEY);
    const records = [...sealer.seal(Buffer.from("x")), ...sealer.seal(Buffer.from("y"))];
    const expected = Buffer.from("y");
    const nonce = Buffer.from("000000000000000000000001", "hex");
    const cipher = createCipheriv("chacha20-poly1305", KEY, nonce, { authTagLength: 16 });
    cipher.setAAD(u32(1 + 16), { plaintextLength: 1 });
    const body = Buffer.concat([cipher.update(expected), cipher.final(), cipher.getAuthTag()]);
    assert.deepEqual(records[1], Buffer.concat([u32(17), body]));
  });

  it("gives no record for empty input", () => {
    assert.deepEqual(new RecordSealer(KEY).seal(Buffer.alloc(0)), []);
  });

  it("splits input at MAX_RECORD_PLAINTEXT bytes", () => {
    const sealer = new RecordSealer(KEY);
    assert.equal(sealer.seal(Buffer.alloc(MAX_RECORD_PLAINTEXT)).length, 1);
    const plain = randomBytes(2 * MAX_RECORD_PLAINTEXT + 5);
    const records = sealer.seal(plain);
    assert.deepEqual(
      records.map((r) => r.readUInt32BE(0)),
      [MAX_RECORD_PLAINTEXT + 16, MAX_RECORD_PLAINTEXT + 16, 5 + 16],
    );
    const opener = new RecordOpener(KEY);
    opener.push(new RecordSealer(KEY).seal(Buffer.alloc(MAX_RECORD_PLAINTEXT))[0] as Buffer);
    for (const r of records) opener.push(r);
    const out = drain(opener);
    assert.equal(out.length, 4);
    assert.deepEqual(Buffer.concat(out.slice(1)), plain);
  });

  it("accepts any Uint8Array, not only Buffers", () => {
    const plain = new Uint8Array([1, 2, 3, 4, 5]).subarray(1, 4);
    assert.deepEqual(openAll(new RecordSealer(KEY).seal(plain)), [Buffer.from([2, 3, 4])]);
  });

  it("refuses a key that is not 32 bytes with ERR_INVALID_ARGUMENT", () => {
    for (const size of [0, 16, 31, 33]) {
      assert.throws(() => new RecordSealer(Buffer.alloc(size)), { code: "ERR_INVALID_ARGUMENT" });
      assert.throws(() => new RecordOpener(Buffer.alloc(size)), { code: "ERR_INVALID_ARGUMENT" });
    }
  });

  it("keeps its own copy of the key", () => {
    const key = Buffer.from(KEY);
    const sealer = new RecordSealer(key);
    const opener = new RecordOpener(key);
    key.fill(0);
    opener.push(sealer.seal(Buffer.from("still the first key"))[0] as Buffer);
    assert.equal(opener.next()?.toString(), "still the first key");
    assert.equal(refusal(new RecordSealer(KEY).seal(Buffer.from("z")), key)?.code, AUTH);
  });
});

describe("recordNonce", () => {
  it("is 4 zero bytes then the counter as a big-endian u64", () => {
    assert.equal(recordNonce(0n).toString("hex"), "000000000000000000000000");
    assert.equal(recordNonce(258n).toString("hex"), "000000000000000000000102");
    assert.equal(recordNonce(2n ** 64n - 1n).toString("hex"), "00000000ffffffffffffffff");
  });

  it("refuses to wrap past 2^64 records, and negative numbers", () => {
    assert.throws(() => recordNonce(2n ** 64n), { code: PROTOCOL });
    assert.throws(() => recordNonce(-1n), { code: PROTOCOL });
  });
});

describe("RecordOpener", () => {
  const sealer = new RecordSealer(KEY);
  const stream = Buffer.concat(MESSAGES.flatMap((m) => sealer.seal(m)));
  const expected = MESSAGES.filter((m) => m.length > 0);

  it("opens a multi-record stream split at every point", () => {
    for (let at = 0; at <= stream.length; at++) {
      assert.deepEqual(openAll(cut(stream, [at])), expected, `split at ${at}`);
    }
  });

  it("opens a multi-record stream split at every pair of points", () => {
    for (let a = 1; a < stream.length; a += 3) {
      for (let b = a + 1; b < stream.length; b += 5) {
        assert.deepEqual(openAll(cut(stream, [a, b])), expected, `split at ${a}, ${b}`);
      }
    }
  });

  it("opens a stream fed one byte at a time", () => {
    assert.deepEqual(openAll(bytePieces(stream)), expected);
  });

  it("returns undefined until a whole record is buffered, counting what it holds", () => {
    const [record] = new RecordSealer(KEY).seal(Buffer.from("hello"));
    assert.ok(record);
    const opener = new RecordOpener(KEY);
    assert.equal(opener.next(), undefined);
    opener.push(record.subarray(0, 3));
    assert.equal(opener.next(), undefined);
    assert.equal(opener.buffered, 3);
    opener.push(record.subarray(3, record.length - 1));
    assert.equal(opener.next(), undefined);
    assert.equal(opener.buffered, record.length - 1 - 4);
    opener.push(record.subarray(record.length - 1));
    assert.equal(opener.next()?.toString(), "hello");
    assert.equal(opener.buffered, 0);
    assert.equal(opener.next(), undefined);
  });

  it("opens a record with an empty plaintext (a tag alone)", () => {
    const cipher = createCipheriv("chacha20-poly1305", KEY, Buffer.alloc(12), {
      authTagLength: 16,
    });
    cipher.setAAD(u32(16), { plaintextLength: 0 });
    cipher.final();
    const record = Buffer.concat([u32(16), cipher.getAuthTag()]);
    assert.deepEqual(openAll([record]), [Buffer.alloc(0)]);
  });

  it("decodes what was encoded for any messages and any chunking (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (messages, positions) => {
          const s = new RecordSealer(KEY);
          const wire = Buffer.concat(messages.flatMap((m) => s.seal(m)));
          const pieces = cut(
            wire,
            positions.map((p) => p % (wire.length + 1)),
          );
          const opened = openAll(pieces);
          assert.deepEqual(
            opened,
            messages.filter((m) => m.length > 0).map((m) => Buffer.from(m)),
          );
        },
      ),
    );
  });

  describe("refusing", () => {
    it("refuses a flipped bit anywhere in a record's ciphertext or tag with ERR_TRANSFER_AUTH", () => {
      const [record] = new RecordSealer(KEY).seal(Buffer.from("integrity"));
      assert.ok(record);
      for (let bit = 4 * 8; bit < record.length * 8; bit++) {
        const bad = flipped(record, bit);
        assert.equal(refusal([bad])?.code, AUTH, `bit ${bit}`);
      }
    });

    it("never returns plaintext when a bit of the length field is flipped", () => {
      // A longer length waits for bytes (then fails on the next record's); a shorter one
      // fails its tag; a length out of range is a protocol error.
      const s = new RecordSealer(KEY);
      const [record] = s.seal(Buffer.from("integrity"));
      const following = Buffer.concat(
        Array.from({ length: 64 }, () => s.seal(randomBytes(4096))).flat(),
      );
      assert.ok(record);
      for (let bit = 0; bit < 32; bit++) {
        const bad = flipped(record, bit);
        const opener = new RecordOpener(KEY);
        let code: string | undefined;
        try {
          opener.push(bad);
          opener.push(following);
          const out = drain(opener);
          assert.equal(out.length, 0, `bit ${bit} gave plaintext`);
        } catch (err) {
          code = (err as { code?: string }).code;
        }
        if (code !== undefined)
          assert.ok(code === AUTH || code === PROTOCOL, `bit ${bit}: ${code}`);
      }
    });

    it("refuses records reordered, replayed or dropped (the counter nonce)", () => {
      const s = new RecordSealer(KEY);
      const [r0, r1, r2] = ["zero", "one", "two"].map((m) => s.seal(Buffer.from(m))[0] as Buffer);
      assert.ok(r0 && r1 && r2);
      assert.deepEqual(openAll([r0, r1, r2]).map(String), ["zero", "one", "two"]);
      assert.equal(refusal([r1, r0, r2])?.code, AUTH, "reordered");
      assert.equal(refusal([r0, r0])?.code, AUTH, "replayed");
      assert.equal(refusal([r0, r2])?.code, AUTH, "dropped");
      assert.equal(refusal([r1])?.code, AUTH, "first dropped");
    });

    it("refuses records sealed under another key", () => {
      const records = new RecordSealer(OTHER_KEY).seal(Buffer.from("wrong key"));
      assert.equal(refusal(records)?.code, AUTH);
    });

    it("refuses a length over the maximum on sight of the header, before the body", () => {
      for (const length of [0xffffffff, MAX_RECORD_PLAINTEXT + RECORD_TAG_SIZE + 1]) {
        const opener = new RecordOpener(KEY);
        opener.push(u32(length));
        assert.throws(() => opener.next(), { code: PROTOCOL, name: "TransferError" });
        assert.equal(opener.buffered, 0);
      }
      const atMax = new RecordOpener(KEY);
      atMax.push(u32(MAX_RECORD_PLAINTEXT + RECORD_TAG_SIZE));
      assert.equal(atMax.next(), undefined);
    });

    it("refuses a length under the 16-byte tag", () => {
      for (const length of [0, 1, 15]) {
        const opener = new RecordOpener(KEY);
        opener.push(Buffer.concat([u32(length), Buffer.alloc(32)]));
        assert.throws(() => opener.next(), { code: PROTOCOL });
      }
    });

    it("keeps throwing the same error once it threw, and drops its buffer", () => {
      const s = new RecordSealer(KEY);
      const [r0, r1] = [s.seal(Buffer.from("a"))[0], s.seal(Buffer.from("b"))[0]] as Buffer[];
      assert.ok(r0 && r1);
      const opener = new RecordOpener(KEY);
      opener.push(Buffer.concat([r1, r0]));
      let first: unknown;
      assert.throws(
        () => opener.next(),
        (err) => {
          first = err;
          return (err as { code?: string }).code === AUTH;
        },
      );
      assert.equal(opener.buffered, 0);
      assert.throws(
        () => opener.next(),
        (err) => err === first,
      );
      assert.throws(
        () => opener.push(r0),
        (err) => err === first,
      );
    });
  });

  describe("the two directions", () => {
    it("use independent keys and counters", () => {
      const toB = new RecordSealer(KEY);
      const toA = new RecordSealer(OTHER_KEY);
      const fromA = new RecordOpener(KEY);
      const fromB = new RecordOpener(OTHER_KEY);
      const same = Buffer.from("same words both ways");
      const ab = toB.seal(same);
      const ba = toA.seal(same);
      assert.notDeepEqual(ab, ba);
      // Records one way do not move the other way's counter: ba is B's record 0.
      const more = ["1", "2", "3"].flatMap((m) => toB.seal(Buffer.from(m)));
      for (const r of ba) fromB.push(r);
      assert.deepEqual(drain(fromB), [same]);
      for (const r of [...ab, ...more]) fromA.push(r);
      assert.deepEqual(drain(fromA).map(String), [String(same), "1", "2", "3"]);
    });

    it("refuses a record reflected back from the other direction", () => {
      const mine = new RecordSealer(KEY).seal(Buffer.from("reflected"));
      assert.equal(refusal(mine, OTHER_KEY)?.code, AUTH);
    });
  });
});

describe("RecordSealer.sealInto", () => {
  it("writes at an offset the bytes seal returns, sealedLength of them", () => {
    for (const size of [
      1,
      5,
      MAX_RECORD_PLAINTEXT,
      MAX_RECORD_PLAINTEXT + 1,
      3 * MAX_RECORD_PLAINTEXT + 7,
    ]) {
      const plain = randomBytes(size);
      const expected = Buffer.concat(new RecordSealer(KEY).seal(plain));
      const out = Buffer.alloc(sealedLength(size) + 10, 0xee);
      assert.equal(new RecordSealer(KEY).sealInto(plain, out, 3), sealedLength(size));
      assert.equal(expected.length, sealedLength(size));
      assert.deepEqual(out.subarray(3, 3 + expected.length), expected);
      // Nothing written around the records.
      assert.deepEqual(out.subarray(0, 3), Buffer.alloc(3, 0xee));
      assert.deepEqual(out.subarray(3 + expected.length), Buffer.alloc(7, 0xee));
    }
  });

  it("goes on numbering from seal, and seal from it", () => {
    const sealer = new RecordSealer(KEY);
    const first = sealer.seal(Buffer.from("one"));
    const out = Buffer.alloc(sealedLength(3));
    sealer.sealInto(Buffer.from("two"), out, 0);
    const third = sealer.seal(Buffer.from("six"));
    assert.deepEqual(openAll([...first, out, ...third]).map(String), ["one", "two", "six"]);
  });

  it("refuses a buffer without room for the records, sealing nothing", () => {
    const sealer = new RecordSealer(KEY);
    assert.throws(() => sealer.sealInto(Buffer.alloc(10), Buffer.alloc(sealedLength(10) - 1), 0), {
      code: "ERR_INVALID_ARGUMENT",
    });
    assert.throws(() => sealer.sealInto(Buffer.alloc(10), Buffer.alloc(sealedLength(10)), 1), {
      code: "ERR_INVALID_ARGUMENT",
    });
    // The counter did not move: the next record is number 0.
    assert.deepEqual(openAll(sealer.seal(Buffer.from("first"))).map(String), ["first"]);
  });
});

describe("RecordOpener out of place (wholeRecords, openEach, takeUnopened)", () => {
  const plains = [
    randomBytes(5),
    randomBytes(MAX_RECORD_PLAINTEXT),
    Buffer.alloc(0),
    randomBytes(70),
  ];
  const sealed = () => {
    const sealer = new RecordSealer(KEY);
    return Buffer.concat(plains.flatMap((p) => (p.length === 0 ? [] : sealer.seal(p))));
  };
  const opened: Buffer[] = plains.filter((p) => p.length > 0);

  it("finds where the whole records end and how much plaintext they hold, at every cut", () => {
    const wire = sealed();
    const ends = [0];
    for (const p of opened) ends.push((ends.at(-1) as number) + p.length + RECORD_OVERHEAD);
    const opener = new RecordOpener(KEY);
    for (let cutAt = 0; cutAt <= wire.length; cutAt += cutAt < 40 ? 1 : 4099) {
      const i = ends.filter((e) => e <= cutAt).length - 1;
      const plain = opened.slice(0, i).reduce((n, p) => n + p.length, 0);
      assert.deepEqual(
        opener.wholeRecords(wire, 0, cutAt),
        { end: ends[i], plain },
        `cut ${cutAt}`,
      );
    }
    assert.deepEqual(opener.wholeRecords(wire, ends[1] as number, wire.length), {
      end: wire.length,
      plain: plains.reduce((n, p) => n + p.length, 0) - 5,
    });
  });

  it("opens what next would open, stopping where each says", () => {
    const wire = sealed();
    const opener = new RecordOpener(KEY);
    const got: Buffer[] = [];
    const stop = opener.openEach(wire, 0, wire.length, (p) => got.push(p) < 2);
    assert.deepEqual(got, opened.slice(0, 2));
    assert.equal(stop, 5 + MAX_RECORD_PLAINTEXT + 2 * RECORD_OVERHEAD);
    // The rest, cut short: only the whole record opens, and numbering goes on.
    const end = opener.openEach(wire, stop, wire.length - 1, (p) => got.push(p) > 0);
    assert.equal(end, stop);
    assert.equal(
      opener.openEach(wire, stop, wire.length, (p) => got.push(p) > 0),
      wire.length,
    );
    assert.deepEqual(got, opened);
  });

  it("takes over from next at any point of the stream, the length field of a record begun included", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 1, max: 700 }),
        (k, piece) => {
          const wire = sealed();
          const at = Math.min(k * 139, wire.length);
          const opener = new RecordOpener(KEY);
          const got: Buffer[] = [];
          for (const chunk of cut(
            wire.subarray(0, at),
            Array.from({ length: 40 }, (_, i) => i * piece),
          )) {
            opener.push(chunk);
            got.push(...drain(opener));
          }
          const rest = Buffer.concat([opener.takeUnopened(), wire.subarray(at)]);
          assert.equal(opener.buffered, 0);
          const whole = opener.wholeRecords(rest, 0, rest.length);
          assert.equal(whole.end, rest.length);
          opener.openEach(rest, 0, rest.length, (p) => got.push(p) > 0);
          assert.deepEqual(got, opened);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("refuses to open out of place while holding bytes, and a length field out of range", () => {
    const wire = sealed();
    const holding = new RecordOpener(KEY);
    holding.push(wire.subarray(0, 3));
    assert.throws(() => holding.openEach(wire, 0, wire.length, () => true), { code: PROTOCOL });
    const opener = new RecordOpener(KEY);
    const bad = Buffer.concat([u32(MAX_RECORD_PLAINTEXT + 17), Buffer.alloc(8)]);
    assert.throws(() => opener.wholeRecords(bad, 0, bad.length), { code: PROTOCOL });
    // Fatal, as for next: the opener is done.
    assert.throws(() => opener.openEach(wire, 0, wire.length, () => true), { code: PROTOCOL });
  });

  it("refuses a record altered in place", () => {
    const wire = flipped(sealed(), 8 * 30);
    const opener = new RecordOpener(KEY);
    assert.throws(() => opener.openEach(wire, 0, wire.length, () => true), { code: AUTH });
  });
});
