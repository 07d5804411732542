import assert from "node:assert/strict";
import { join, resolve, sep } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { TransferError } from "../core/errors.ts";
import {
  checkPreamble,
  checkRelativePath,
  decodeMessage,
  encodeMessage,
  encodePreamble,
  type TransferMessage,
} from "./transfer-codec.ts";

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof TransferError, `a TransferError, not ${String(err)}`);
    return err.code;
  }
  return "no error";
}

describe("transfer preamble", () => {
  it("accepts the other role, and says what a wrong peer is", () => {
    checkPreamble(encodePreamble("sender"), "sender");
    checkPreamble(encodePreamble("receiver"), "receiver");
    assert.throws(
      () => checkPreamble(encodePreamble("sender"), "receiver"),
      /Both sides are senders/,
    );
    assert.throws(
      () => checkPreamble(Buffer.from("Thank you for connecting"), "sender"),
      /not a socketkit transfer peer \(it sent "Thank yo"\)/,
    );
    assert.throws(() => checkPreamble(Buffer.alloc(0), "sender"), /it sent nothing/);
    const older = encodePreamble("sender");
    older.writeUInt16BE(1, 4);
    assert.throws(() => checkPreamble(older, "sender"), /version 1; this socketkit speaks 2/);
    const future = encodePreamble("sender");
    future.writeUInt16BE(3, 4);
    assert.throws(() => checkPreamble(future, "sender"), /version 3; this socketkit speaks 2/);
  });
});

describe("transfer messages", () => {
  const samples: TransferMessage[] = [
    { t: "hello", auth: false },
    { t: "hello", auth: true },
    { t: "pake", msg: "53".repeat(33) },
    { t: "ready" },
    { t: "file", path: "photos/été 2026/a.jpg", size: 123, exec: false },
    {
      t: "pack",
      files: [
        { path: "notes.part", size: 65536, exec: true, sha256: "e".repeat(64) },
        { path: "a/b", size: 0, exec: false, sha256: "0".repeat(64) },
      ],
    },
    { t: "dir", path: "empty" },
    { t: "offer", have: 0, sha256: null, held: false },
    { t: "offer", have: 10, sha256: "f".repeat(64), held: false },
    { t: "offer", have: 10, sha256: null, held: true },
    { t: "data", from: 10 },
    { t: "done", sha256: "1".repeat(64) },
    { t: "ok", present: false },
    { t: "ok", present: true },
    { t: "stored", present: [] },
    { t: "stored", present: [0, 3, 1023] },
    { t: "end", files: 2, bytes: 99 },
    { t: "bye" },
    { t: "error", code: "ERR_TRANSFER_HASH", message: "corrupt" },
  ];

  it("round-trip through their wire form", () => {
    for (const m of samples) {
      const wire = encodeMessage(m);
      assert.equal(wire.readUInt32BE(0), wire.length - 4);
      assert.deepEqual(decodeMessage(wire.subarray(4)), m);
    }
  });

  it("refuse malformed fields with a protocol error", () => {
    const bad = [
      "not json",
      "[]",
      '{"t":"file","path":"a","size":-1,"exec":false}',
      '{"t":"file","path":"a","size":1.5,"exec":false}',
      '{"t":"file","path":"a","size":1e300,"exec":false}',
      '{"t":"offer","have":5,"sha256":null,"held":false}',
      `{"t":"offer","have":5,"sha256":"${"f".repeat(64)}","held":true}`,
      `{"t":"offer","have":5,"sha256":"${"f".repeat(64)}"}`,
      '{"t":"done","sha256":"XYZ"}',
      '{"t":"hello"}',
      '{"t":"pake","msg":"53"}',
      `{"t":"pake","msg":"${"g".repeat(66)}"}`,
      `{"t":"pack","files":[{"path":"a","size":65537,"exec":false,"sha256":"${"f".repeat(64)}"}]}`,
      '{"t":"pack","files":[{"path":"a","size":1,"exec":false,"sha256":null}]}',
      '{"t":"pack","files":[]}',
      '{"t":"pack","files":{}}',
      '{"t":"pack","files":[null]}',
      `{"t":"pack","files":[${`{"path":"a","size":1,"exec":false,"sha256":"${"f".repeat(64)}"}`}, ${`{"path":"a","size":2,"exec":true,"sha256":"${"e".repeat(64)}"}`}]}`,
      `{"t":"pack","files":[${Array.from({ length: 17 }, (_, i) => `{"path":"f${i}","size":65536,"exec":false,"sha256":"${"f".repeat(64)}"}`).join(",")}]}`,
      `{"t":"pack","files":[${Array.from({ length: 1025 }, (_, i) => `{"path":"f${i}","size":0,"exec":false,"sha256":"${"f".repeat(64)}"}`).join(",")}]}`,
      '{"t":"stored"}',
      '{"t":"stored","present":[1,1]}',
      '{"t":"stored","present":[2,1]}',
      '{"t":"stored","present":[-1]}',
      '{"t":"stored","present":[1024]}',
      '{"t":"stored","present":["0"]}',
      '{"t":"launch-missiles"}',
    ];
    for (const body of bad)
      assert.equal(
        code(() => decodeMessage(Buffer.from(body))),
        "ERR_TRANSFER_PROTOCOL",
        body,
      );
    assert.equal(
      code(() => decodeMessage(Buffer.from('{"t":"file","path":"../x","size":1,"exec":false}'))),
      "ERR_TRANSFER_NAME",
    );
  });

  it("refuse a field whose value cannot even be shown as text with a coded error, not a TypeError", () => {
    // String({ toString: 1 }) throws: the message must not depend on the value's methods.
    assert.equal(
      code(() =>
        decodeMessage(Buffer.from('{"t":"file","path":{"toString":1},"size":1,"exec":true}')),
      ),
      "ERR_TRANSFER_NAME",
    );
    assert.equal(
      code(() => decodeMessage(Buffer.from('{"t":"dir","path":[{"toString":1}]}'))),
      "ERR_TRANSFER_NAME",
    );
    assert.equal(
      code(() => decodeMessage(Buffer.from('{"t":{"toString":0}}'))),
      "ERR_TRANSFER_PROTOCOL",
    );
  });

  it("show a peer's error message with its control characters escaped, and keep only a plain code", () => {
    const m = decodeMessage(
      Buffer.from(
        '{"t":"error","code":"\\u001b[2J","message":"\\u001b]0;owned\\u0007 \\u202eevil"}',
      ),
    );
    assert.deepEqual(m, { t: "error", code: "ERR_TRANSFER", message: "^[]0;owned^G <U+202E>evil" });
  });

  it("property: arbitrary bytes decode or give a TransferError, nothing else", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
          fc.json().map((j) => Buffer.from(j)),
        ),
        (body) => {
          try {
            decodeMessage(body);
          } catch (err) {
            assert.ok(err instanceof TransferError, String(err));
          }
        },
      ),
    );
  });
});

describe("checkRelativePath", () => {
  it("accepts relative paths of ordinary names, any script", () => {
    for (const ok of [
      "a.txt",
      "photos/été/IMG 1.jpg",
      "Документы/отчёт.pdf",
      "a/b/c/d",
      ".hidden",
      "..x",
      "x..",
      "a/.../b",
      "x".repeat(255),
      `a/${"y".repeat(255)}/b`,
    ]) {
      assert.equal(checkRelativePath(ok), ok);
    }
  });

  it("refuses every way out of the folder and every unprintable name", () => {
    const refused = [
      "",
      "..",
      "../etc/passwd",
      "a/../../b",
      "a/./b",
      ".",
      "./a",
      "a/.",
      "a/..",
      "/",
      "/etc/passwd",
      "C:\\Windows",
      "c:evil",
      "a\\b",
      "a//b",
      "a/",
      "nul\0byte",
      "esc\x1b[2Jape",
      "new\nline",
      "del\x7f",
      "c1\x9b",
      "x".repeat(256),
      `a/${"y".repeat(256)}/b`,
      `${"d/".repeat(2100)}f`,
      "bad\uFFFDutf8",
      "lone\uD800surrogate",
      "\uDC00",
      42,
      null,
    ];
    for (const path of refused)
      assert.equal(
        code(() => checkRelativePath(path)),
        "ERR_TRANSFER_NAME",
        JSON.stringify(path),
      );
  });

  it("shows a refused name with its control characters escaped", () => {
    assert.throws(
      () => checkRelativePath("evil\x1b[31m"),
      (err: Error) => !err.message.includes("\x1b") && err.message.includes("\\u001b"),
    );
    // JSON.stringify alone leaves DEL and the C1 controls as they are.
    assert.throws(
      () => checkRelativePath("a\x9b31m\x7f"),
      (err: Error) => err.message.includes('"a\\u009b31m\\u007f"'),
    );
  });

  it("property: no accepted name resolves outside the folder", () => {
    const root = resolve("/srv/incoming");
    const piece = fc.oneof(
      fc.constantFrom("..", ".", "", "a", "b.txt", "C:", "\\", "/", "\0", "\x1b", "é", "~"),
      fc.string({ maxLength: 6 }),
    );
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 8 }),
        fc.constantFrom("/", "\\", ""),
        (pieces, glue) => {
          const path = pieces.join(glue);
          let accepted: string;
          try {
            accepted = checkRelativePath(path);
          } catch {
            return;
          }
          const target = join(root, accepted);
          assert.ok(target.startsWith(root + sep), `${JSON.stringify(path)} -> ${target}`);
          assert.ok(!accepted.split("/").includes(".."));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
