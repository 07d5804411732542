/**
 * Property tests of the file transfer's wire format (src/codec/transfer-codec.ts) and of
 * where received names land (src/apps/transfer/files.ts): preambles, message headers and
 * bodies from a peer that sends anything, and names that try to leave the folder.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { lstat, mkdir, mkdtemp, realpath, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, resolve, sep } from "node:path";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { DestDir } from "../../src/apps/transfer/dest-dir.ts";
import { LengthPrefixCodec } from "../../src/codec/length-prefix-codec.ts";
import {
  checkMessageLength,
  checkPreamble,
  checkRelativePath,
  decodeMessage,
  encodeMessage,
  encodePreamble,
  MAX_MESSAGE_SIZE,
  MAX_NAME_BYTES,
  MAX_PATH_BYTES,
  type Role,
  type TransferMessage,
} from "../../src/codec/transfer-codec.ts";
import { TransferError } from "../../src/core/errors.ts";
import { escapeControls } from "../../src/core/escape.ts";
import { cut } from "../helpers/chunks.ts";
import {
  assertCoded,
  assertPrintable,
  asyncBudget,
  budget,
  C0_C1,
  codedOutcome,
  cutsArb,
  textArb,
} from "./properties-helpers.ts";

const PROTOCOL = "ERR_TRANSFER_PROTOCOL";
const NAME = "ERR_TRANSFER_NAME";
const MESSAGE_CODES = [PROTOCOL, NAME];

/** A length header, for any u32 (the codec's encodeHeader refuses what it would not decode). */
function u32(n: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(n);
  return out;
}

/** Pieces of names: the ways out of a folder, the characters refused, and ordinary ones. */
const namePiece = fc.oneof(
  fc.constantFrom(
    "..",
    ".",
    "",
    "a",
    "b.txt",
    "C:",
    "c:x",
    "\\",
    "/",
    "\0",
    "\x1b[2J",
    "\x7f",
    "\x9b",
    "\u202e",
    "\ufffd",
    "\ud800",
    "\udc00",
    "\ud83d\ude00",
    "é",
    "~",
    " ",
    "x".repeat(255),
    "x".repeat(256),
  ),
  fc.string({ maxLength: 8, unit: "binary" }),
  fc.string({ maxLength: 8 }),
);
const nameArb = fc
  .tuple(fc.array(namePiece, { maxLength: 8 }), fc.constantFrom("/", "/", "\\", ""))
  .map(([pieces, glue]) => pieces.join(glue));

/** A name the sanitiser must accept: ordinary components joined by "/". */
const goodComponent = fc
  .string({ minLength: 1, maxLength: 12, unit: "binary" })
  .filter((s) => !C0_C1.test(s) && !/[\\/\ufffd]/.test(s) && s !== "." && s !== "..");
const goodPathArb = fc
  .array(goodComponent, { minLength: 1, maxLength: 5 })
  .map((parts) => parts.join("/"))
  .filter((p) => !/^[A-Za-z]:/.test(p));

const hex64 = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((a) => Buffer.from(a).toString("hex"));
const size = fc.oneof(fc.nat(1 << 20), fc.constant(Number.MAX_SAFE_INTEGER), fc.maxSafeNat());

/** Every message of the protocol, with any valid fields. */
const messageArb: fc.Arbitrary<TransferMessage> = fc.oneof(
  fc.boolean().map((auth) => ({ t: "hello", auth }) as const),
  fc
    .uint8Array({ minLength: 33, maxLength: 33 })
    .map((a) => ({ t: "pake", msg: Buffer.from(a).toString("hex") }) as const),
  fc.constant({ t: "ready" } as const),
  fc
    .tuple(goodPathArb, size, fc.boolean())
    .map(([path, s, exec]) => ({ t: "file", path, size: s, exec }) as const),
  fc
    .uniqueArray(
      fc
        .tuple(goodPathArb, fc.nat(65536), fc.boolean(), hex64)
        .map(([path, s, exec, sha256]) => ({ path, size: s, exec, sha256 })),
      { minLength: 1, maxLength: 16, selector: (f) => f.path },
    )
    .map((files) => ({ t: "pack", files }) as const),
  fc
    .uniqueArray(fc.nat(1023), { maxLength: 20 })
    .map((present) => ({ t: "stored", present: present.sort((a, b) => a - b) }) as const),
  goodPathArb.map((path) => ({ t: "dir", path }) as const),
  fc.constant({ t: "offer", have: 0, sha256: null, held: false } as const),
  size.map((have) => ({ t: "offer", have, sha256: null, held: true }) as const),
  fc
    .tuple(
      size.filter((n) => n > 0),
      hex64,
    )
    .map(([have, sha256]) => ({ t: "offer", have, sha256, held: false }) as const),
  size.map((from) => ({ t: "data", from }) as const),
  hex64.map((sha256) => ({ t: "done", sha256 }) as const),
  fc.boolean().map((present) => ({ t: "ok", present }) as const),
  fc.tuple(size, size).map(([files, bytes]) => ({ t: "end", files, bytes }) as const),
  fc.constant({ t: "bye" } as const),
  fc
    .tuple(
      fc.oneof(fc.string({ maxLength: 70 }), textArb(4)),
      fc.oneof(fc.string({ maxLength: 1100, unit: "binary" }), textArb(200)),
    )
    .map(([code, message]) => ({ t: "error", code, message }) as const),
);

/** What decoding a message gives back: an error message's text is shown safely. */
function expectedDecode(m: TransferMessage): TransferMessage {
  if (m.t !== "error") return m;
  return {
    t: "error",
    code: /^[A-Za-z0-9_.-]{1,64}$/.test(m.code) ? m.code : "ERR_TRANSFER",
    message: escapeControls(m.message).slice(0, 1000),
  };
}

/** Checks what a decoded message may hold: only valid fields, names and printable text. */
function assertWellFormed(m: TransferMessage): void {
  const isSize = (n: number) => Number.isSafeInteger(n) && n >= 0;
  const isHex = (s: string | null) => typeof s === "string" && /^[0-9a-f]{64}$/.test(s);
  switch (m.t) {
    case "hello":
      assert.equal(typeof m.auth, "boolean");
      break;
    case "pake":
      assert.match(m.msg, /^[0-9a-f]{66}$/);
      break;
    case "pack": {
      assert.ok(m.files.length >= 1 && m.files.length <= 1024);
      assert.equal(new Set(m.files.map((f) => f.path)).size, m.files.length);
      assert.ok(m.files.reduce((n, f) => n + f.size, 0) <= 1024 * 1024);
      for (const f of m.files) {
        assert.equal(checkRelativePath(f.path), f.path);
        assert.ok(isSize(f.size) && f.size <= 65536 && isHex(f.sha256));
        assert.equal(typeof f.exec, "boolean");
      }
      break;
    }
    case "stored":
      assert.ok(
        m.present.every(
          (i, k) => isSize(i) && i < 1024 && (k === 0 || i > (m.present[k - 1] as number)),
        ),
      );
      break;
    case "file":
      assert.equal(checkRelativePath(m.path), m.path);
      assert.ok(isSize(m.size) && typeof m.exec === "boolean");
      break;
    case "dir":
      assert.equal(checkRelativePath(m.path), m.path);
      break;
    case "offer":
      assert.ok(isSize(m.have) && (m.have === 0 || m.held ? m.sha256 === null : isHex(m.sha256)));
      break;
    case "data":
      assert.ok(isSize(m.from));
      break;
    case "done":
      assert.ok(isHex(m.sha256));
      break;
    case "end":
      assert.ok(isSize(m.files) && isSize(m.bytes));
      break;
    case "error":
      assert.match(m.code, /^[A-Za-z0-9_.-]{1,64}$/);
      assert.ok(m.message.length <= 1000);
      assertPrintable(m.message, "an error message from the peer");
      break;
    default:
      break;
  }
  // A decoded message goes back on the wire unchanged.
  assert.deepEqual(decodeMessage(encodeMessage(m).subarray(4)), m);
}

/** JSON values a hostile peer might put in a field, beyond what fc.jsonValue() makes. */
const fieldValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom<unknown>(
    { toString: 1 },
    { valueOf: 1, toString: 2 },
    [{ toString: 1 }],
    [],
    {},
    -0,
    1e300,
    -1,
    1.5,
    2 ** 53,
    "",
    "a".repeat(64),
    "../x",
    "\ud800",
    "\u202eevil",
    "\x1b]0;owned\x07",
    "\x9b31m",
  ),
  hex64,
  goodPathArb,
  size,
);
const keyArb = fc.constantFrom(
  "t",
  "path",
  "size",
  "exec",
  "auth",
  "msg",
  "held",
  "present",
  "have",
  "sha256",
  "from",
  "files",
  "bytes",
  "code",
  "message",
  "__proto__",
  "constructor",
  "toString",
  "valueOf",
);
const typeArb = fc.oneof(
  fc.constantFrom(
    "hello",
    "pake",
    "ready",
    "pack",
    "stored",
    "file",
    "dir",
    "offer",
    "data",
    "done",
    "ok",
    "end",
    "bye",
    "error",
    "HELLO",
    "",
    "__proto__",
    "toString",
  ),
  fieldValue,
);
/** A `pack`'s list of files as a hostile peer might write it: any fields, any values. */
const packFilesArb = fc.array(
  fc.dictionary(
    fc.constantFrom("path", "size", "exec", "sha256", "__proto__", "toString"),
    fc.oneof(hex64, goodPathArb, size, fc.boolean(), fc.constant(65537), fieldValue),
  ),
  { maxLength: 4 },
);
/** The JSON text of an object with a `t` and any fields, duplicate keys and all. */
const jsonishArb = fc
  .tuple(
    typeArb,
    fc.array(
      fc.oneof(
        fc.tuple(keyArb, fieldValue),
        fc.tuple(fc.constant("files"), packFilesArb as fc.Arbitrary<unknown>),
      ),
      { maxLength: 6 },
    ),
  )
  .map(([t, fields]) => {
    const entries = [["t", t] as const, ...fields].map(
      ([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`,
    );
    return Buffer.from(`{${entries.join(",")}}`);
  });

describe("transfer preamble (properties)", () => {
  it("accepts only the other role's preamble and refuses any other bytes with a coded error", () => {
    const roleArb = fc.constantFrom<Role>("sender", "receiver");
    const preambleArb = fc.oneof(
      fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a)),
      fc.tuple(roleArb, fc.nat(7), fc.integer({ min: 0, max: 255 })).map(([role, at, byte]) => {
        const p = encodePreamble(role);
        p[at] = byte;
        return p;
      }),
      roleArb.map((role) => encodePreamble(role)),
    );
    fc.assert(
      fc.property(preambleArb, roleArb, (preamble, peer) => {
        const ok =
          preamble.length >= 8 &&
          preamble.subarray(0, 7).equals(encodePreamble(peer).subarray(0, 7));
        const outcome = codedOutcome(
          () => checkPreamble(preamble, peer),
          ["ERR_TRANSFER_PEER", "ERR_TRANSFER_VERSION"],
        );
        assert.equal("value" in outcome, ok, preamble.toString("hex"));
      }),
      budget(1000),
    );
  });

  it("accepts a message length up to MAX_MESSAGE_SIZE and refuses any longer with a coded error", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.nat(0xffffffff),
          fc.integer({ min: MAX_MESSAGE_SIZE - 2, max: MAX_MESSAGE_SIZE + 2 }),
        ),
        (length) => {
          const outcome = codedOutcome(() => checkMessageLength(length), [PROTOCOL]);
          assert.equal("value" in outcome, length <= MAX_MESSAGE_SIZE);
        },
      ),
      budget(500),
    );
  });
});

describe("transfer messages (properties)", () => {
  it("decodes every message it encodes, read from the stream however it is cut", () => {
    fc.assert(
      fc.property(fc.array(messageArb, { maxLength: 6 }), cutsArb(6000), (messages, cuts) => {
        const wire = Buffer.concat(messages.map((m) => encodeMessage(m)));
        // The control channel's framing: a u32 length, then that many bytes of JSON.
        const frames = new LengthPrefixCodec({ maxFrameSize: MAX_MESSAGE_SIZE });
        const got: TransferMessage[] = [];
        for (const piece of cut(wire, cuts)) {
          frames.push(piece);
          for (let body = frames.next(); body !== undefined; body = frames.next()) {
            got.push(decodeMessage(body));
          }
        }
        assert.equal(frames.end(), undefined);
        assert.deepEqual(got, messages.map(expectedDecode));
        for (const m of got) assertWellFormed(m);
      }),
      budget(300),
    );
  });

  it("decodes JSON objects with any fields into a well-formed message or a coded error", () => {
    fc.assert(
      fc.property(jsonishArb, (body) => {
        const outcome = codedOutcome(() => decodeMessage(body), MESSAGE_CODES);
        if ("value" in outcome) assertWellFormed(outcome.value);
      }),
      budget(3000),
    );
  });

  it("reads any bytes from a peer as messages or coded errors, buffering at most one message", () => {
    // Frames with plausible headers around arbitrary bodies, or no framing at all.
    const body = fc.oneof(
      jsonishArb,
      fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a)),
      fc.json({ maxDepth: 2 }).map((j) => Buffer.from(j)),
    );
    const chunk = fc.oneof(
      body.map((b) => Buffer.concat([u32(b.length), b])),
      fc
        .tuple(fc.oneof(fc.nat(0xffffffff), fc.nat(200)), body)
        .map(([n, b]) => Buffer.concat([u32(n), b])),
      fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
    );
    fc.assert(
      fc.property(fc.array(chunk, { maxLength: 6 }), cutsArb(1000), (chunks, cuts) => {
        const wire = Buffer.concat(chunks);
        const frames = new LengthPrefixCodec({ maxFrameSize: MAX_MESSAGE_SIZE });
        try {
          for (const piece of cut(wire, cuts)) {
            frames.push(piece);
            assert.ok(frames.bufferedLength <= MAX_MESSAGE_SIZE + 4 + piece.length);
            for (let b = frames.next(); b !== undefined; b = frames.next()) {
              checkMessageLength(b.length);
              const outcome = codedOutcome(() => decodeMessage(b), MESSAGE_CODES);
              if ("value" in outcome) assertWellFormed(outcome.value);
            }
          }
          frames.end();
        } catch (err) {
          assertCoded(err, ["ERR_FRAME_TOO_LARGE", "ERR_INCOMPLETE_READ"]);
        }
      }),
      budget(500),
    );
  });

  it("refuses to encode a message over MAX_MESSAGE_SIZE with a coded error", () => {
    fc.assert(
      fc.property(fc.integer({ min: MAX_MESSAGE_SIZE - 40, max: MAX_MESSAGE_SIZE + 40 }), (n) => {
        const m: TransferMessage = { t: "error", code: "E", message: "m".repeat(n) };
        const outcome = codedOutcome(() => encodeMessage(m), [PROTOCOL]);
        const length = Buffer.byteLength(JSON.stringify(m));
        assert.equal("value" in outcome, length <= MAX_MESSAGE_SIZE);
      }),
      budget(50),
    );
  });
});

describe("received names (properties)", () => {
  const root = resolve("/srv/incoming");

  it("accepts only names that stay inside the folder and are written as they were checked", () => {
    fc.assert(
      fc.property(fc.oneof(nameArb, goodPathArb), (name) => {
        const outcome = codedOutcome(() => checkRelativePath(name), [NAME]);
        if (!("value" in outcome)) return;
        assert.equal(outcome.value, name);
        const target = join(root, name);
        assert.ok(target.startsWith(root + sep), `${JSON.stringify(name)} -> ${target}`);
        assert.equal(resolve(root, name), target);
        const rel = relative(root, target);
        assert.ok(rel.split(sep)[0] !== ".." && rel !== "", JSON.stringify(name));
        // No control character, backslash or drive letter, and the bytes on disk spell it.
        assert.doesNotMatch(name, C0_C1);
        assert.doesNotMatch(name, /\\|^[A-Za-z]:/);
        assert.equal(Buffer.from(name, "utf8").toString("utf8"), name);
        assert.ok(Buffer.byteLength(name) <= MAX_PATH_BYTES);
        for (const part of name.split("/")) {
          assert.ok(part !== "" && part !== "." && part !== "..");
          assert.ok(Buffer.byteLength(part) <= MAX_NAME_BYTES);
        }
      }),
      budget(3000),
    );
  });

  it("refuses a name that is not text with a coded error", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.constantFrom<unknown>(
            Object.create(null),
            { toString: 1 },
            [{ toString: 1 }],
            Symbol("s"),
            1n,
          ),
        ),
        (value) => {
          fc.pre(typeof value !== "string");
          const outcome = codedOutcome(() => checkRelativePath(value), [NAME]);
          assert.ok("error" in outcome);
        },
      ),
      budget(500),
    );
  });

  describe("on disk", () => {
    let base = "";
    let folder = "";
    let outside = "";
    before(async () => {
      base = await realpath(await mkdtemp(join(tmpdir(), "socketkit-names-")));
      folder = join(base, "incoming");
      outside = join(base, "outside");
      await mkdir(folder);
      await mkdir(outside);
      await mkdir(join(folder, "dir"));
      await writeFile(join(folder, "file"), "x");
      await symlink(outside, join(folder, "link"));
      await symlink("/", join(folder, "dir", "root"));
      await symlink(join(outside, "nothing"), join(folder, "dangling"));
    });
    after(() => rm(base, { recursive: true, force: true }));

    const diskPiece = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.constantFrom("link", "dir", "root", "file", "dangling", "new", "a"),
      },
      { weight: 1, arbitrary: namePiece },
    );
    const diskName = fc
      .array(diskPiece, { minLength: 1, maxLength: 4 })
      .map((pieces) => pieces.join("/"));

    /** No component of `path` below the folder is a symbolic link. */
    async function assertNoLinkOnTheWay(path: string): Promise<void> {
      const rel = relative(folder, path).split(sep);
      let at = folder;
      for (const part of rel) {
        at = join(at, part);
        const info = await lstat(at).catch(() => null);
        assert.ok(info === null || !info.isSymbolicLink(), `${at} is a symbolic link`);
      }
    }

    it("places an accepted file name inside the folder, never through a link, else refuses it with a coded error", async () => {
      await fc.assert(
        fc.asyncProperty(diskName, fc.boolean(), async (name, overwrite) => {
          const dest = await DestDir.open(folder);
          try {
            await dest.prepare(name, { overwrite });
          } catch (err) {
            assertCoded(err, [NAME, "ERR_TRANSFER_EXISTS"]);
            return;
          } finally {
            await dest.close();
          }
          const path = join(folder, name);
          assert.ok(path.startsWith(folder + sep), `${JSON.stringify(name)} -> ${path}`);
          assert.notEqual(relative(folder, path).split(sep)[0], "..");
          await assertNoLinkOnTheWay(path);
        }),
        asyncBudget(150, 10_000),
      );
    });

    it("makes an accepted folder name inside the folder, never through a link, else refuses it with a coded error", async () => {
      await fc.assert(
        fc.asyncProperty(diskName, async (name) => {
          const dest = await DestDir.open(folder);
          try {
            await dest.mkdirs(name);
          } catch (err) {
            assertCoded(err, [NAME]);
            return;
          } finally {
            await dest.close();
          }
          const made = join(folder, name);
          const info = await lstat(made);
          assert.ok(info.isDirectory());
          await assertNoLinkOnTheWay(made);
        }),
        asyncBudget(150, 10_000),
      );
    });

    it("refuses a name too long for the file system with a coded error, before making anything", async () => {
      const name = `${`${"a".repeat(254)}/`.repeat(15)}${"f".repeat(255)}`;
      assert.equal(checkRelativePath(name), name);
      const dest = await DestDir.open(folder);
      after(() => dest.close());
      for (const attempt of [() => dest.mkdirs(name), () => dest.prepare(name)]) {
        await assert.rejects(attempt(), (err: Error & { code?: string }) => {
          assert.ok(err instanceof TransferError, `${err.constructor.name} ${err.code}`);
          assertCoded(err, [NAME]);
          return true;
        });
      }
      assert.equal(existsSync(join(folder, "a".repeat(254))), false, "no folder was made");
    });

    it("shows a refused name with its bidirectional controls escaped", async () => {
      await writeFile(join(folder, "\u202eexe.txt"), "x");
      const dest = await DestDir.open(folder);
      after(() => dest.close());
      for (const attempt of [
        () => dest.mkdirs("link/\u202eevil"),
        () => dest.prepare("\u202eexe.txt/inside"),
      ]) {
        await assert.rejects(attempt(), (err) => {
          assertCoded(err, [NAME, "ERR_TRANSFER_EXISTS"]);
          return true;
        });
      }
    });
  });
});
