/**
 * File transfer end to end: round trips compared byte for byte, resumption, corruption,
 * hostile names, overwrite protection, secrets, TLS, and the `socketkit` commands.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import {
  chmodSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { Channel } from "../../src/apps/transfer/channel.ts";
import { STAGING_DIR, stagedPath } from "../../src/apps/transfer/dest-dir.ts";
import { fetch, listenWarnings, receive, send, share } from "../../src/apps/transfer/index.ts";
import { decodeMessage, encodeMessage, encodePreamble } from "../../src/codec/transfer-codec.ts";
import { TransferError } from "../../src/core/errors.ts";
import { createConnection } from "../../src/socket/create-connection.ts";
import { deferred } from "../helpers/deferred.ts";
import { closedPort, netServer, tempDir, until } from "../helpers/net.ts";
import {
  errorOutputFrom,
  listening,
  portOf,
  ROOT,
  socketkit,
  start,
  unprivilegedSocketkit,
} from "../helpers/proc.ts";
import { noTerminal, socketkitOnTerminal } from "../helpers/terminal.ts";

const hasScript = spawnSync("script", ["--version"]).status === 0;

const T = { timeout: 60_000 };
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const quiet = () => {};

/** A `receive` in this process; resolves its port, and its outcome as a promise. */
async function receiver(options: Parameters<typeof receive>[0]) {
  const ready = deferred<number>();
  const result = receive({
    log: quiet,
    ...options,
    onListening: ([, port]) => ready.resolve(port),
  });
  result.catch(() => {}); // looked at by the test when it wants
  const port = await Promise.race([ready.promise, result.then(() => -1)]);
  return { port, result };
}

/** A sender written by hand, connected to `port` and past the handshake (no secret). */
async function handSender(t: TestContext, port: number) {
  const conn = await createConnection(["127.0.0.1", port]);
  t.after(() => conn.close());
  const channel = new Channel(conn, "sender", "test");
  await channel.handshake(null);
  return { conn, channel };
}

/** What is in `dir`, less socketkit's staging folder. */
function listing(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name !== STAGING_DIR)
    .sort();
}

/** The partial files in `dir`'s staging folder. */
function partials(dir: string): string[] {
  const staging = join(dir, STAGING_DIR);
  return existsSync(staging) ? readdirSync(staging).filter((n) => n.endsWith(".part")) : [];
}

/** Plants `data` as the staged partial file of `rel` in `dir`, as a cut transfer leaves it. */
function plantPartial(dir: string, rel: string, data: Buffer): string {
  mkdirSync(join(dir, STAGING_DIR), { recursive: true, mode: 0o700 });
  const path = join(dir, stagedPath(rel));
  writeFileSync(path, data);
  return path;
}

/** Every file under `dir` (but the staging folder), as path → contents. */
function snapshot(dir: string, base = dir, out = new Map<string, Buffer>()): Map<string, Buffer> {
  for (const name of listing(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) snapshot(path, base, out);
    else out.set(path.slice(base.length + 1), readFileSync(path));
  }
  return out;
}

async function rejection(p: Promise<unknown>, code: string): Promise<TransferError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof TransferError, `expected a TransferError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe("send and receive", () => {
  it(
    "round-trip empty, small, 100 MB random files and a folder tree, byte for byte",
    T,
    async (t) => {
      const src = await tempDir(t);
      const dst = await tempDir(t);
      writeFileSync(join(src, "empty"), "");
      writeFileSync(join(src, "small.txt"), "hello, world\n");
      writeFileSync(join(src, "big.bin"), randomBytes(100 * 1024 * 1024));
      const tree = join(src, "tree");
      for (let i = 0; i < 120; i++) {
        const dir = join(tree, `d${i % 7}`, `e${i % 3}`);
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, `f${i}.dat`), randomBytes(i * 37));
      }
      mkdirSync(join(tree, "empty-dir"));
      symlinkSync("/etc/passwd", join(tree, "link-to-elsewhere"));
      writeFileSync(join(tree, "run.sh"), "#!/bin/sh\necho hi\n");
      chmodSync(join(tree, "run.sh"), 0o755);
      const { port, result } = await receiver({ dir: dst });
      const notes: string[] = [];
      const sent = await send(
        ["empty", "small.txt", "big.bin", "tree"].map((n) => join(src, n)),
        ["127.0.0.1", port],
        { log: (line) => notes.push(line) },
      );
      assert.match(
        notes.join("\n"),
        /skipped .*link-to-elsewhere: not a file or folder \(links are not followed\)/,
      );
      const got = await result;
      assert.equal(sent.files.length, 124);
      assert.equal(got?.sha256, sent.sha256);
      const before = snapshot(src);
      before.delete(join("tree", "link-to-elsewhere"));
      const after = snapshot(dst);
      assert.deepEqual([...after.keys()], [...before.keys()]);
      for (const [path, data] of before) assert.ok(after.get(path)?.equals(data), path);
      assert.ok(statSync(join(dst, "tree", "empty-dir")).isDirectory(), "empty folders too");
      assert.equal(
        statSync(join(dst, "tree", "run.sh")).mode & 0o777,
        0o755,
        "executable stays executable",
      );
      assert.equal(statSync(join(dst, "small.txt")).mode & 0o777, 0o644);
      assert.deepEqual(partials(dst), [], "no partial file is left");
    },
  );

  it(
    "resumes from a partial file whose bytes match, and starts again from one that does not",
    T,
    async (t) => {
      const src = await tempDir(t);
      const dst = await tempDir(t);
      const data = randomBytes(5 * 1024 * 1024);
      writeFileSync(join(src, "f.bin"), data);
      for (const [prefix, expectSent] of [
        [data.subarray(0, 3_000_001), data.length - 3_000_001],
        [
          Buffer.concat([data.subarray(0, 100), Buffer.from("x"), data.subarray(101, 2000)]),
          data.length,
        ],
        [Buffer.alloc(0), data.length],
      ] as const) {
        const part = plantPartial(dst, "f.bin", prefix);
        const { port, result } = await receiver({ dir: dst, overwrite: true });
        const sent = await send([join(src, "f.bin")], ["127.0.0.1", port]);
        await result;
        assert.equal(sent.bytes, expectSent);
        const resumed = expectSent < data.length;
        assert.equal(sent.files[0]?.outcome, resumed ? "resumed" : "sent");
        assert.equal(sent.files[0]?.resumedAt, resumed ? prefix.length : 0);
        assert.equal(sha(readFileSync(join(dst, "f.bin"))), sha(data));
        assert.equal(existsSync(part), false);
      }
    },
  );

  it("keeps nothing of a corrupt file and fails on both sides", T, async (t) => {
    const dst = await tempDir(t);
    const { port, result } = await receiver({ dir: dst });
    // A sender whose bytes do not match the hash it announces.
    const { conn, channel } = await handSender(t, port);
    await channel.send({ t: "file", path: "report.txt", size: 5, exec: false });
    await channel.expect("offer");
    await channel.send({ t: "data", from: 0 });
    await conn.sendall("hellp");
    await channel.send({ t: "done", sha256: sha(Buffer.from("hello")) });
    await rejection(channel.expect("ok"), "ERR_TRANSFER_HASH");
    await rejection(result, "ERR_TRANSFER_HASH");
    assert.deepEqual(listing(dst), [], "no report.txt");
    assert.deepEqual(partials(dst), [], "nor its partial file");
  });

  it("keeps nothing of a pack with a corrupt file, nor of the files before it", T, async (t) => {
    const dst = await tempDir(t);
    const { port, result } = await receiver({ dir: dst });
    const { channel } = await handSender(t, port);
    const good = Buffer.from("good");
    await channel.sendRaw([
      encodeMessage({
        t: "pack",
        files: [
          { path: "a.txt", size: 4, exec: false, sha256: sha(good) },
          { path: "b.txt", size: 5, exec: false, sha256: sha(Buffer.from("hello")) },
        ],
      }),
      good,
      Buffer.from("hellp"),
    ]);
    await rejection(channel.expect("stored"), "ERR_TRANSFER_HASH");
    const err = await rejection(result, "ERR_TRANSFER_HASH");
    assert.match(err.message, /"b\.txt" arrived corrupt/);
    assert.deepEqual(listing(dst), [], "neither a.txt nor b.txt");
  });

  it("refuses a name sent twice in one transfer, in one pack or in two", T, async (t) => {
    const dst = await tempDir(t);
    const { port, result } = await receiver({ dir: dst });
    const { channel } = await handSender(t, port);
    const pack = (data: string) =>
      channel.sendRaw([
        encodeMessage({
          t: "pack",
          files: [{ path: "x", size: data.length, exec: false, sha256: sha(Buffer.from(data)) }],
        }),
        Buffer.from(data),
      ]);
    await pack("first");
    await channel.expect("stored");
    await pack("second");
    await rejection(channel.expect("stored"), "ERR_TRANSFER_PROTOCOL");
    const err = await rejection(result, "ERR_TRANSFER_PROTOCOL");
    assert.match(err.message, /sent "x" twice/);
    assert.equal(readFileSync(join(dst, "x"), "utf8"), "first");
    // In one pack, the message itself is refused.
    assert.throws(
      () =>
        decodeMessage(
          encodeMessage({
            t: "pack",
            files: [
              { path: "y", size: 0, exec: false, sha256: sha(Buffer.alloc(0)) },
              { path: "y", size: 0, exec: false, sha256: sha(Buffer.alloc(0)) },
            ],
          }).subarray(4),
        ),
      /"y" twice/,
    );
  });

  it(
    "refuses every bad name, and links planted in the folder, writing nothing outside it",
    T,
    async (t) => {
      const root = await tempDir(t);
      const dst = join(root, "dst");
      const outside = join(root, "outside");
      mkdirSync(dst);
      mkdirSync(outside);
      symlinkSync(outside, join(dst, "linkdir"));
      symlinkSync(join(outside, "target.txt"), join(dst, "linkfile.txt"));
      mkdirSync(join(dst, STAGING_DIR), { mode: 0o700 });
      symlinkSync(join(outside, "p"), join(dst, stagedPath("plain.txt")));
      const names = [
        "../escape.txt",
        "a/../../escape.txt",
        "/tmp/escape.txt",
        `${outside}/abs.txt`,
        "C:\\escape.txt",
        "c:escape.txt",
        "nul\0.txt",
        "esc\x1b[2J.txt",
        `${"n".repeat(256)}.txt`,
        "linkdir/escape.txt",
        "linkfile.txt",
        "plain.txt",
        `${STAGING_DIR}/x.part`,
        `${STAGING_DIR}/received`,
      ];
      for (const name of names) {
        const { port, result } = await receiver({ dir: dst, overwrite: true });
        const conn = await createConnection(["127.0.0.1", port]);
        const channel = new Channel(conn, "sender", "test");
        await channel.handshake(null);
        // Sent as raw JSON: our own encoder would not even produce some of these.
        const body = Buffer.from(JSON.stringify({ t: "file", path: name, size: 3, exec: false }));
        const frame = Buffer.alloc(4);
        frame.writeUInt32BE(body.length);
        await conn.sendall(Buffer.concat([frame, body]));
        const err = await rejection(result, "ERR_TRANSFER_NAME");
        assert.equal(err.message.includes("\x1b"), false, "names are shown escaped");
        await conn.close();
      }
      assert.deepEqual(readdirSync(outside), [], "nothing outside");
      assert.deepEqual(listing(dst), ["linkdir", "linkfile.txt"]);
      assert.deepEqual(readdirSync(join(dst, STAGING_DIR)), [
        stagedPath("plain.txt").split("/")[1],
      ]);
    },
  );

  it("does not overwrite an existing file without overwrite", T, async (t) => {
    const src = await tempDir(t);
    const dst = await tempDir(t);
    writeFileSync(join(src, "a.txt"), "new");
    writeFileSync(join(dst, "a.txt"), "old");
    const first = await receiver({ dir: dst });
    await rejection(send([join(src, "a.txt")], ["127.0.0.1", first.port]), "ERR_TRANSFER_EXISTS");
    await rejection(first.result, "ERR_TRANSFER_EXISTS");
    assert.equal(readFileSync(join(dst, "a.txt"), "utf8"), "old");
    const second = await receiver({ dir: dst, overwrite: true });
    await send([join(src, "a.txt")], ["127.0.0.1", second.port]);
    await second.result;
    assert.equal(readFileSync(join(dst, "a.txt"), "utf8"), "new");
  });

  it(
    "takes a file it received earlier, unchanged, as already there (a run cut after the rename), small or big",
    T,
    async (t) => {
      const src = await tempDir(t);
      const dst = await tempDir(t);
      const small = randomBytes(50_000);
      const big = randomBytes(300_000);
      writeFileSync(join(src, "a.bin"), small);
      writeFileSync(join(src, "c.bin"), big);
      writeFileSync(join(src, "b.bin"), randomBytes(1000));
      // The first run moved a.bin and c.bin before it was cut; b.bin did not start.
      const first = await receiver({ dir: dst });
      await send([join(src, "a.bin"), join(src, "c.bin")], ["127.0.0.1", first.port]);
      await first.result;
      const { port, result } = await receiver({ dir: dst });
      const sent = await send(
        ["a.bin", "b.bin", "c.bin"].map((n) => join(src, n)),
        ["127.0.0.1", port],
      );
      const got = await result;
      const outcomes = [
        ["a.bin", 0, "present"],
        ["b.bin", 1000, "sent"],
        ["c.bin", 0, "present"],
      ];
      assert.deepEqual(
        got?.files.map((f) => [f.path, f.sent, f.outcome]),
        outcomes,
      );
      assert.deepEqual(
        sent.files.map((f) => [f.path, f.sent, f.outcome]),
        outcomes,
      );
      assert.deepEqual(readFileSync(join(dst, "a.bin")), small);
      assert.deepEqual(readFileSync(join(dst, "c.bin")), big);
      assert.deepEqual(readFileSync(join(dst, "b.bin")), readFileSync(join(src, "b.bin")));
    },
  );

  it(
    "refuses a file of the user's with the very bytes being sent, small or big, without reading it",
    T,
    async (t) => {
      for (const size of [1000, 300_000]) {
        const src = await tempDir(t);
        const dst = await tempDir(t);
        const data = randomBytes(size);
        writeFileSync(join(src, "mine.bin"), data);
        writeFileSync(join(dst, "mine.bin"), data);
        const { port, result } = await receiver({ dir: dst });
        await rejection(send([join(src, "mine.bin")], ["127.0.0.1", port]), "ERR_TRANSFER_EXISTS");
        await rejection(result, "ERR_TRANSFER_EXISTS");
      }
    },
  );

  it(
    "sends a name ending in .part as an ordinary file, and never touches the user's .part files",
    T,
    async (t) => {
      const src = await tempDir(t);
      const dst = await tempDir(t);
      const notes = randomBytes(200_000);
      const notesPart = randomBytes(100_000);
      writeFileSync(join(src, "notes"), notes);
      writeFileSync(join(src, "notes.part"), notesPart);
      // The user's own file, a prefix of what is coming under the name without .part.
      const backup = randomBytes(300_000);
      writeFileSync(join(src, "backup.tar"), backup);
      const users = backup.subarray(0, 120_000);
      writeFileSync(join(dst, "backup.tar.part"), users);
      const { port, result } = await receiver({ dir: dst });
      const sent = await send(
        ["notes.part", "notes", "backup.tar"].map((n) => join(src, n)),
        ["127.0.0.1", port],
      );
      const got = await result;
      assert.deepEqual(
        got?.files.map((f) => [f.path, f.sent]),
        [
          ["notes.part", 100_000],
          ["notes", 200_000],
          ["backup.tar", 300_000],
        ],
      );
      assert.equal(sent.bytes, 600_000, "nothing was taken as already there");
      assert.deepEqual(readFileSync(join(dst, "notes.part")), notesPart);
      assert.deepEqual(readFileSync(join(dst, "notes")), notes);
      assert.deepEqual(readFileSync(join(dst, "backup.tar")), backup);
      assert.deepEqual(readFileSync(join(dst, "backup.tar.part")), users, "the user's file stays");
      assert.deepEqual(partials(dst), []);
    },
  );

  it("writes nothing through a hard link planted as a partial file", T, async (t) => {
    const src = await tempDir(t);
    const dst = await tempDir(t);
    const outside = join(await tempDir(t), "precious");
    writeFileSync(outside, "keep me");
    writeFileSync(join(src, "f.bin"), randomBytes(200_000));
    mkdirSync(join(dst, STAGING_DIR), { mode: 0o700 });
    linkSync(outside, join(dst, stagedPath("f.bin")));
    const { port, result } = await receiver({ dir: dst });
    await rejection(send([join(src, "f.bin")], ["127.0.0.1", port]), "ERR_TRANSFER_NAME");
    const err = await rejection(result, "ERR_TRANSFER_NAME");
    assert.match(err.message, /2 links/);
    assert.equal(readFileSync(outside, "utf8"), "keep me");
    assert.deepEqual(listing(dst), []);
  });

  it(
    "sends a folder's small files whole, many to a message, and ahead of the answers",
    T,
    async (t) => {
      const src = join(await tempDir(t), "many");
      mkdirSync(src);
      for (let i = 0; i < 3000; i++) writeFileSync(join(src, `f${i}`), randomBytes(1024));
      // A receiver by hand that answers nothing after the handshake: it counts what comes.
      const seen = { packs: 0, files: 0, other: 0 };
      const counted = deferred<void>();
      const { port } = await netServer(t, (s) => {
        s.write(
          Buffer.concat([encodePreamble("receiver"), encodeMessage({ t: "hello", auth: false })]),
        );
        let got = Buffer.alloc(0);
        let at = 8; // past the sender's preamble
        s.on("data", (d: Buffer) => {
          got = Buffer.concat([got, d]);
          for (;;) {
            if (got.length < at + 4) break;
            const length = got.readUInt32BE(at);
            if (got.length < at + 4 + length) break;
            const m = decodeMessage(got.subarray(at + 4, at + 4 + length));
            const data = m.t === "pack" ? m.files.reduce((n, f) => n + f.size, 0) : 0;
            if (got.length < at + 4 + length + data) break;
            at += 4 + length + data;
            if (m.t === "pack") {
              seen.packs++;
              seen.files += m.files.length;
            } else if (m.t !== "hello") seen.other++;
          }
          if (seen.files >= 2000) counted.resolve();
        });
      });
      const sending = send([src], ["127.0.0.1", port], { timeout: 5 });
      sending.catch(() => {});
      await counted.promise;
      assert.ok(seen.files >= 2000, `${seen.files} small files came before any answer`);
      assert.ok(
        seen.packs * 100 <= seen.files,
        `${seen.files} files came in ${seen.packs} messages: at least 100 to a message`,
      );
      assert.equal(seen.other, 0, "nothing but small files whole");
    },
  );

  it("refuses a file over --max-size before writing anything", T, async (t) => {
    const src = await tempDir(t);
    const dst = await tempDir(t);
    writeFileSync(join(src, "big"), randomBytes(2000));
    const { port, result } = await receiver({ dir: dst, maxSize: 1000 });
    await rejection(send([join(src, "big")], ["127.0.0.1", port]), "ERR_TRANSFER_SIZE");
    await rejection(result, "ERR_TRANSFER_SIZE");
    assert.deepEqual(listing(dst), []);
  });

  it(
    "checks the secret both ways: a mismatch or a missing secret fails the sender, and receive logs it, refuses the host for a backoff, and waits on",
    T,
    async (t) => {
      const src = await tempDir(t);
      const dst = await tempDir(t);
      writeFileSync(join(src, "s.txt"), "secret stuff");
      const lines: string[] = [];
      const { port, result } = await receiver({
        dir: dst,
        secret: "correct horse",
        log: (line) => lines.push(line),
      });
      /** Waits for receive's line about failed secret `n`, then for its backoff to end. */
      const backoff = async (n: number, seconds: number) => {
        await until(() => lines.length >= n + 1, `the line about failed secret ${n}`);
        const seen = performance.now();
        await until(() => performance.now() - seen >= seconds * 1000, "the end of the backoff");
      };
      await rejection(
        send([join(src, "s.txt")], ["127.0.0.1", port], { secret: "battery staple" }),
        "ERR_TRANSFER_AUTH",
      );
      await backoff(1, 1); // the host is refused for 1 s after a failed secret
      const err = await rejection(
        send([join(src, "s.txt")], ["127.0.0.1", port]),
        "ERR_TRANSFER_AUTH",
      );
      assert.match(err.message, /requires a secret/);
      await backoff(2, 2); // 2 s after the second in a row
      assert.match(lines[1] as string, /^ignored 127\.0\.0\.1:\d+: The secrets do not match$/);
      assert.match(lines[2] as string, /^ignored 127\.0\.0\.1:\d+: The peer has no secret/);
      assert.deepEqual(listing(dst), []);
      await send([join(src, "s.txt")], ["127.0.0.1", port], { secret: "correct horse" });
      assert.equal((await result)?.files.length, 1);
      assert.equal(readFileSync(join(dst, "s.txt"), "utf8"), "secret stuff");
    },
  );

  it("closes a peer that connects and says nothing, and still takes its sender", T, async (t) => {
    const src = await tempDir(t);
    const dst = await tempDir(t);
    writeFileSync(join(src, "late.txt"), "worth the wait");
    const lines: string[] = [];
    const { port, result } = await receiver({
      dir: dst,
      timeout: 5,
      log: (line) => lines.push(line),
    });
    const silent = await createConnection(["127.0.0.1", port]);
    t.after(() => silent.close());
    // Served at once, side by side with the silent one: not after its 5 s timeout.
    const started = performance.now();
    await send([join(src, "late.txt")], ["127.0.0.1", port]);
    assert.equal((await result)?.files.length, 1);
    const ms = performance.now() - started;
    assert.ok(ms < 2500, `the sender waited ${Math.round(ms)} ms`);
    assert.equal((await silent.recv(100)).length > 0, true, "the silent peer got the preamble");
    assert.equal(await silent.recv(100).then((d) => d.length), 0, "then it was closed");
    assert.equal(readFileSync(join(dst, "late.txt"), "utf8"), "worth the wait");
    assert.deepEqual(
      lines.filter((l) => l.startsWith("ignored")),
      [],
      "the transfer won: the silent peer is closed without a line",
    );
  });

  it("logs a peer silent for the timeout and waits on", T, async (t) => {
    const lines: string[] = [];
    const stop = new AbortController();
    const { port, result } = await receiver({
      dir: await tempDir(t),
      timeout: 0.3,
      log: (line) => lines.push(line),
      signal: stop.signal,
    });
    const silent = await createConnection(["127.0.0.1", port]);
    t.after(() => silent.close());
    await until(() => lines.some((l) => / silent for 0\.3 s$/.test(l)), "the line about it");
    stop.abort();
    assert.equal(await result, null, "still waiting when stopped");
  });
});

describe("receive and share with a signal that has aborted already", () => {
  it("return at once, with nothing received or served", T, async (t) => {
    const signal = AbortSignal.abort();
    const dir = await tempDir(t);
    assert.equal(await receive({ dir, signal, log: () => {} }), null);
    writeFileSync(join(dir, "a.txt"), "a");
    assert.deepEqual(await share([join(dir, "a.txt")], { signal, log: () => {} }), []);
  });
});

describe("transfer server warnings", () => {
  it("warn off loopback without a secret, and on every interface", () => {
    assert.deepEqual(listenWarnings("127.0.0.1", null), []);
    assert.deepEqual(listenWarnings("::1", null), []);
    assert.match(listenWarnings("192.168.1.20", null).join("\n"), /no --secret/);
    assert.deepEqual(listenWarnings("192.168.1.20", "s"), []);
    assert.equal(listenWarnings("0.0.0.0", null).length, 2);
  });
});

describe("share and fetch", () => {
  it("serve a file to each fetch, the tutorial's direction", T, async (t) => {
    const src = await tempDir(t);
    const dst1 = await tempDir(t);
    const dst2 = await tempDir(t);
    const data = randomBytes(3 * 1024 * 1024);
    writeFileSync(join(src, "test.bin"), data);
    const stop = new AbortController();
    const ready = deferred<number>();
    const sharing = share([join(src, "test.bin")], {
      log: quiet,
      signal: stop.signal,
      onListening: ([, p]) => ready.resolve(p),
    });
    const port = await ready.promise;
    await fetch(["127.0.0.1", port], { dir: dst1 });
    await fetch(["127.0.0.1", port], { dir: dst2 });
    stop.abort();
    const results = await sharing;
    assert.equal(results.length, 2);
    assert.ok(readFileSync(join(dst1, "test.bin")).equals(data));
    assert.ok(readFileSync(join(dst2, "test.bin")).equals(data));
  });

  it("tells a peer that is not a transfer peer what it is", T, async (t) => {
    const server = socketkit(["serve", "greet"]);
    t.after(() => server.stop());
    const port = Number(portOf(await listening(server)));
    const dst = await tempDir(t);
    await assert.rejects(
      fetch(["127.0.0.1", port], { dir: dst }),
      /not a socketkit transfer peer \(it sent "Thank yo"\)/,
    );
  });
});

describe("socketkit send / receive / share / fetch", () => {
  it("send and receive as commands: summary lines with the hash, exit 0", T, async (t) => {
    const src = await tempDir(t);
    const dst = await tempDir(t);
    const data = randomBytes(1024 * 1024);
    writeFileSync(join(src, "cli.bin"), data);
    const rx = socketkit(["receive", "--port", "0", "--dir", dst]);
    t.after(() => rx.stop());
    const port = portOf(await listening(rx));
    const tx = socketkit(["send", join(src, "cli.bin"), "--to", `127.0.0.1:${port}`]);
    assert.equal(await tx.exited, 0, tx.stderr());
    assert.equal(await rx.exited, 0, rx.stderr());
    const line = new RegExp(
      `cli\\.bin, 1048576 bytes in [\\d.]+ s \\([\\d.]+ MB/s\\), sha256 ${sha(data)}\\n$`,
    );
    assert.match(tx.stderr(), new RegExp(`^sent ${line.source}`));
    assert.match(rx.stderr(), new RegExp(`received ${line.source}`));
    assert.ok(readFileSync(join(dst, "cli.bin")).equals(data));
  });

  it("a hash mismatch exits non-zero, and receive says why in one line", T, async (t) => {
    const dst = await tempDir(t);
    const rx = socketkit(["receive", "--port", "0", "--dir", dst]);
    t.after(() => rx.stop());
    const port = Number(portOf(await listening(rx)));
    const { conn, channel } = await handSender(t, port);
    await channel.send({ t: "file", path: "x", size: 1, exec: false });
    await channel.expect("offer");
    await channel.send({ t: "data", from: 0 });
    await conn.sendall("y");
    await channel.send({ t: "done", sha256: "0".repeat(64) });
    assert.equal(await rx.exited, 1);
    assert.match(
      rx.stderr(),
      /^socketkit: "x" arrived corrupt: its SHA-256 is [0-9a-f]{64}, the sender's is 0{64}\n$/m,
    );
    assert.deepEqual(listing(dst), []);
  });

  it("resumes after the sender is killed mid-way", { timeout: 120_000 }, async (t) => {
    const src = await tempDir(t);
    const dst = await tempDir(t);
    const data = randomBytes(300 * 1024 * 1024);
    writeFileSync(join(src, "cut.bin"), data);
    const part = join(dst, stagedPath("cut.bin"));
    for (const fraction of [0.1, 0.5]) {
      const rx = socketkit(["receive", "--port", "0", "--dir", dst]);
      t.after(() => rx.stop());
      const port = portOf(await listening(rx));
      const tx = socketkit(["send", join(src, "cut.bin"), "--to", `127.0.0.1:${port}`]);
      t.after(() => tx.stop());
      const before = existsSync(part) ? statSync(part).size : 0;
      // Kill the sender once the receiver holds more than `fraction` of the file.
      await until(
        () => existsSync(part) && statSync(part).size > before + fraction * (data.length - before),
        "the partial file grows",
        60_000,
      );
      tx.child.kill("SIGKILL");
      await once(tx.child, "exit");
      assert.equal(await rx.exited, 1, "the receiver fails: the sender vanished");
      assert.match(rx.stderr(), /closed the connection|reset/);
      assert.equal(existsSync(join(dst, "cut.bin")), false, "nothing under the final name");
    }
    const held = statSync(part).size;
    const rx = socketkit(["receive", "--port", "0", "--dir", dst]);
    t.after(() => rx.stop());
    const port = portOf(await listening(rx));
    const tx = socketkit(["send", join(src, "cut.bin"), "--to", `127.0.0.1:${port}`]);
    assert.equal(await tx.exited, 0, tx.stderr());
    assert.equal(await rx.exited, 0, rx.stderr());
    assert.match(
      tx.stderr(),
      new RegExp(
        `^sent cut\\.bin, resumed at ${held} of ${data.length} bytes: ${data.length - held} bytes in`,
        "m",
      ),
      "only the rest was sent, and the line says so",
    );
    assert.equal(sha(readFileSync(join(dst, "cut.bin"))), sha(data));
  });

  it("shows a progress bar on a terminal, and the summary line", {
    ...T,
    skip: hasScript ? false : "util-linux `script` is not installed",
  }, async (t) => {
    const src = await tempDir(t);
    const dst = await tempDir(t);
    writeFileSync(join(src, "bar.bin"), randomBytes(8 * 1024 * 1024));
    const rx = socketkit(["receive", "--port", "0", "--dir", dst]);
    t.after(() => rx.stop());
    const port = portOf(await listening(rx));
    const command = `${process.execPath} --import tsx ${ROOT}src/cli/main.ts send ${join(src, "bar.bin")} --to 127.0.0.1:${port}`;
    const tty = start("script", ["-qfec", command, "/dev/null"]);
    t.after(() => tty.stop());
    await tty.exited;
    const out = tty.stdout().toString();
    assert.match(
      out,
      /bar\.bin \|[█░]+\| \d+% [\d.]+ MB\/8\.4 MB/,
      "the bar: name, fill, percent, bytes",
    );
    assert.match(out, /sent bar\.bin, 8388608 bytes in [\d.]+ s/);
    assert.equal(await rx.exited, 0);
  });

  it(
    "receive and fetch make a --dir that is not there, with its parents, at start",
    T,
    async (t) => {
      const top = await tempDir(t);
      const incoming = join(top, "a", "b", "incoming");
      const rx = socketkit(["receive", "--port", "0", "--dir", incoming]);
      t.after(() => rx.stop());
      await listening(rx);
      assert.ok(statSync(incoming).isDirectory(), "made before any sender came");
      await rx.stop();
      const downloads = join(top, "downloads");
      const fx = socketkit(["fetch", "127.0.0.1", String(await closedPort()), "--dir", downloads]);
      assert.equal(await fx.exited, 1);
      assert.ok(statSync(downloads).isDirectory(), "made before connecting");
    },
  );

  it("receive and fetch refuse at start, in one line, a --dir that is a file", T, async (t) => {
    const top = await tempDir(t);
    const file = join(top, "incoming");
    writeFileSync(file, "not a folder");
    const expected = `socketkit: Cannot use the folder "${file}": not a directory\n`;
    const rx = socketkit(["receive", "--port", "0", "--dir", file]);
    t.after(() => rx.stop());
    assert.equal(await rx.exited, 1);
    assert.equal(rx.stderr(), expected, "no listening line: it never listened");
    const fx = socketkit(["fetch", "127.0.0.1", String(await closedPort()), "--dir", file]);
    assert.equal(await fx.exited, 1);
    assert.equal(fx.stderr(), expected, "before connecting (the port is closed)");
    const under = socketkit(["receive", "--port", "0", "--dir", join(file, "x")]);
    assert.equal(await under.exited, 1);
    assert.match(under.stderr(), /^socketkit: Cannot use the folder "[^"]+": not a directory\n$/);
  });

  it("receive refuses at start, in one line, a --dir it may not write in", T, async (t) => {
    const top = await tempDir(t);
    chmodSync(top, 0o755);
    const locked = join(top, "locked");
    mkdirSync(locked, { mode: 0o555 });
    chmodSync(locked, 0o555);
    for (const dir of [locked, join(locked, "incoming")]) {
      const rx = unprivilegedSocketkit(["receive", "--port", "0", "--dir", dir]);
      if (typeof rx === "string") return t.skip(rx);
      t.after(() => rx.stop());
      assert.equal(await rx.exited, 1);
      assert.equal(rx.stderr(), `socketkit: Cannot use the folder "${dir}": permission denied\n`);
    }
  });

  it("Ctrl-C on receive during a transfer leaves the Stopped line on the screen, below no bar", {
    ...T,
    skip: noTerminal(),
  }, async (t) => {
    const dst = await tempDir(t);
    const rx = socketkitOnTerminal(["receive", "--port", "0", "--dir", dst], {
      cols: 240,
      rows: 24,
    });
    t.after(() => rx.stop());
    await rx.waitFor((s) => /listening on \S+:\d+/.test(s.text()), "the listening line");
    const port = Number(/listening on \S+:(\d+)/.exec(rx.screen.text())?.[1]);
    // A sender by hand: the file's first half, then it waits (well within --timeout).
    const size = 2 * 1024 * 1024;
    const conn = await createConnection(["127.0.0.1", port]);
    t.after(() => conn.close());
    const channel = new Channel(conn, "sender", "test", null);
    t.after(() => channel.close());
    await channel.handshake(null);
    await channel.send({ t: "file", path: "half.bin", size, exec: false });
    await channel.expect("offer");
    await channel.send({ t: "data", from: 0 });
    await conn.sendall(randomBytes(size / 2));
    await rx.waitFor((s) => /half\.bin \|.*\| 50%/.test(s.text()), "the bar at 50%");
    rx.type("\x03");
    assert.equal(await rx.exited, 0, rx.screen.text());
    const lines = rx.screen.text().split("\n");
    assert.match(lines[0] as string, /^listening on /);
    assert.match(
      lines[1] as string,
      /^Stopped: the transfer with 127\.0\.0\.1:\d+ did not end within the 5 s grace period; what arrived is kept in \.socketkit-partial/,
    );
    assert.equal(lines.length, 2, `nothing else stays on the screen: ${lines.join(" | ")}`);
  });

  it(
    "send refuses an unreadable file or folder before connecting, in one line with the path as given",
    T,
    async (t) => {
      const top = await tempDir(t);
      chmodSync(top, 0o755);
      mkdirSync(join(top, "photos", "private"), { recursive: true });
      writeFileSync(join(top, "photos", "a.jpg"), "a");
      writeFileSync(join(top, "notes.txt"), "secret");
      chmodSync(join(top, "photos", "private"), 0o700);
      chmodSync(join(top, "notes.txt"), 0o600);
      let connections = 0;
      const server = await netServer(t, () => {
        connections++;
      });
      const cases: [string, string][] = [
        ["photos/", "photos/private"],
        ["notes.txt", "notes.txt"],
      ];
      for (const [path, shown] of cases) {
        const tx = unprivilegedSocketkit(
          ["send", path, "--to", `127.0.0.1:${server.port}`, "--timeout", "2"],
          {
            cwd: top,
          },
        );
        if (typeof tx === "string") return t.skip(tx);
        t.after(() => tx.stop());
        assert.equal(await tx.exited, 1);
        assert.equal(tx.stderr(), `socketkit: Cannot read ${shown}: permission denied\n`);
      }
      assert.equal(connections, 0, "it never connected");
    },
  );

  it("TLS with a pinned fingerprint, and share --once with fetch", T, async (t) => {
    const src = await tempDir(t);
    const dst = await tempDir(t);
    writeFileSync(join(src, "tls.txt"), "over tls");
    const sh = socketkit([
      "share",
      join(src, "tls.txt"),
      "--port",
      "0",
      "--once",
      "--tls-self-signed",
    ]);
    t.after(() => sh.stop());
    const port = portOf(await listening(sh));
    const fingerprint = /fingerprint (\S+)/.exec(sh.stderr())?.[1] as string;
    const fx = socketkit(["fetch", "127.0.0.1", port, "--dir", dst, "--fingerprint", fingerprint]);
    assert.equal(await fx.exited, 0, fx.stderr());
    assert.equal(await sh.exited, 0, sh.stderr());
    assert.equal(readFileSync(join(dst, "tls.txt"), "utf8"), "over tls");
  });

  it(
    "--secret takes the secret from SOCKETKIT_SECRET; a mismatch fails the sender, and receive says so and takes the right one after a 1 s backoff",
    T,
    async (t) => {
      const src = await tempDir(t);
      const dst = await tempDir(t);
      writeFileSync(join(src, "s.txt"), "for your eyes");
      const rx = socketkit(["receive", "--port", "0", "--dir", dst, "--secret"], null, {
        SOCKETKIT_SECRET: "abc",
      });
      t.after(() => rx.stop());
      const port = portOf(await listening(rx));
      const sendWith = async (secret: string) => {
        const tx = socketkit(
          ["send", join(src, "s.txt"), "--to", `127.0.0.1:${port}`, "--secret"],
          null,
          { SOCKETKIT_SECRET: secret },
        );
        return { code: await tx.exited, stderr: tx.stderr() };
      };
      const wrong = await sendWith("abd");
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /^socketkit: The secrets do not match\n$/);
      await errorOutputFrom(rx, (err) => /secrets do not match/.test(err));
      assert.match(
        rx.stderr().trimEnd().split("\n")[1] as string,
        /^ignored 127\.0\.0\.1:\d+: The secrets do not match$/,
      );
      // The host is refused for 1 s after a failed secret.
      const seen = performance.now();
      await until(() => performance.now() - seen >= 1000, "the end of the backoff");
      const right = await sendWith("abc");
      assert.equal(right.code, 0, right.stderr);
      assert.equal(await rx.exited, 0, rx.stderr());
      assert.equal(readFileSync(join(dst, "s.txt"), "utf8"), "for your eyes");
      const none = socketkit(
        ["send", join(src, "s.txt"), "--to", "127.0.0.1:1", "--secret"],
        null,
        { SOCKETKIT_SECRET: "" },
      );
      assert.equal(await none.exited, 1);
      assert.match(
        none.stderr(),
        /--secret needs the SOCKETKIT_SECRET environment variable, or a terminal to ask on/,
      );
    },
  );
});
