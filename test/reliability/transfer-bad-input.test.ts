/**
 * `socketkit share` and `socketkit receive` as child processes, against peers that do not
 * speak the transfer protocol (docs/transfer-protocol.md) or speak it wrong: another
 * magic, another version, the same role, huge and malformed length prefixes and sizes,
 * garbage, silence and a slowloris. Each gets a clear error (an `error` message where the
 * protocol has one, and one line on the server's stderr); `share` goes on serving with
 * flat memory; `receive` waits on for its sender after a peer that fails before its
 * transfer begins (its lines bounded in a flood), and exits 1 without writing a byte under
 * a final name when the transfer it began fails.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { STAGING_DIR } from "../../src/apps/transfer/dest-dir.ts";
import { fetch, send } from "../../src/apps/transfer/index.ts";
import { encodeMessage, encodePreamble, TRANSFER_VERSION } from "../../src/codec/transfer-codec.ts";
import { fileTempDir, tempDir, until } from "../helpers/net.ts";
import { rssOf } from "../helpers/proc.ts";
import {
  exchange,
  garbage,
  HostileClient,
  INVALID_UTF8,
  silentClient,
  slowloris,
  TELNET_IAC,
} from "./lib/hostile-client.ts";
import {
  closeSlackMs,
  MiB,
  mib,
  RSS_BOUND,
  sharedServer,
  T,
  testServer,
} from "./lib/server-process.ts";

/** The server's silence limit, `--timeout`, in seconds. */
const TIMEOUT = 1;

// ------------------------------------------------------------ the wire, written by hand

/** A preamble with any magic, version and role byte. */
function preamble(magic = "SKXF", version = TRANSFER_VERSION, role = "R"): Buffer {
  const out = Buffer.alloc(8);
  out.write(magic, 0, "latin1");
  out.writeUInt16BE(version, 4);
  out.write(role, 6, "latin1");
  return out;
}

/** A 4-byte big-endian length prefix. */
function lengthPrefix(n: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(n);
  return out;
}

/** A message frame around any body (JSON or not). */
function frame(body: string | Buffer | object): Buffer {
  const bytes =
    typeof body === "string" || Buffer.isBuffer(body)
      ? Buffer.from(body)
      : Buffer.from(JSON.stringify(body));
  return Buffer.concat([lengthPrefix(bytes.length), bytes]);
}

const HELLO = encodeMessage({ t: "hello", auth: false });

/** The messages after the peer's 8-byte preamble (a cut one at the end is left out). */
function messagesIn(received: Buffer): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  let at = 8;
  while (at + 4 <= received.length) {
    const length = received.readUInt32BE(at);
    if (at + 4 + length > received.length) break;
    out.push(JSON.parse(received.subarray(at + 4, at + 4 + length).toString("utf8")));
    at += 4 + length;
  }
  return out;
}

/** A bad peer: what it sends, and the one line the server must write about it on stderr. */
interface BadPeer {
  name: string;
  bytes: Buffer;
  line: RegExp;
  /**
   * The `error` message's code the peer must get (null: closed with no message, as a
   * peer whose preamble is not the protocol's is).
   */
  told: string | null;
  /**
   * The peer ends its side once offered the file (a sender that cuts its data short); the
   * others wait to be told why they are closed.
   */
  endsAfterOffer?: boolean;
}

/** Asserts that `peer` got the `error` message it must get in `received` (or none). */
function assertTold(peer: BadPeer, received: Buffer): void {
  const errors = messagesIn(received).filter((m) => m.t === "error");
  if (peer.told === null) assert.deepEqual(errors, [], `${peer.name}: no error message`);
  else assert.equal(errors[0]?.code, peer.told, `${peer.name}: told why`);
}

/** A `receive` (with `args`) into a new folder. */
async function receiver(t: TestContext, args: string[] = []) {
  const dst = await tempDir(t);
  const { program: rx, port } = await testServer(t, [
    "receive",
    "--port",
    "0",
    "--dir",
    dst,
    ...args,
  ]);
  return { dst, rx, port };
}

/** A {@link receiver}, and the file `name` holding `text` for the sender after the bad peers. */
async function receiverFor(t: TestContext, name: string, text: string, args: string[] = []) {
  const file = join(await tempDir(t), name);
  writeFileSync(file, text);
  return { file, ...(await receiver(t, args)) };
}

/** Bad peers of `share` (which sends; the peer must be a receiver). */
const SHARE_PEERS: BadPeer[] = [
  {
    name: "an HTTP request (wrong magic)",
    bytes: Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    line: /: The peer is not a socketkit transfer peer \(it sent "GET \/ HT"\)$/m,
    told: null,
  },
  {
    name: "binary garbage",
    bytes: Buffer.concat([
      Buffer.from([0x00, 0xff, 0x13, 0x37, 0x80, 0x81, 0x82, 0x83]),
      garbage(64 * 1024),
    ]),
    line: /: The peer is not a socketkit transfer peer \(it sent 00ff133780818283\)$/m,
    told: null,
  },
  {
    name: "telnet IAC sequences",
    bytes: TELNET_IAC,
    line: /: The peer is not a socketkit transfer peer \(it sent fffd01fffb1ffffa\)$/m,
    told: null,
  },
  {
    name: "a socketkit of the older protocol version",
    bytes: preamble("SKXF", 1),
    line: /: The peer speaks transfer protocol version 1; this socketkit speaks 2$/m,
    told: null,
  },
  {
    name: "the same role (two senders)",
    bytes: preamble("SKXF", TRANSFER_VERSION, "S"),
    line: /: Both sides are senders: one side must send and the other receive$/m,
    told: null,
  },
  {
    name: "an unknown role byte",
    bytes: preamble("SKXF", TRANSFER_VERSION, "?"),
    line: /: The peer sent an unknown role byte 63$/m,
    told: null,
  },
  {
    name: "a huge length prefix in place of hello",
    bytes: Buffer.concat([preamble(), lengthPrefix(0xffffffff)]),
    line: /: The peer sent a message of 4294967295 bytes \(at most 65536\): not this protocol$/m,
    told: "ERR_TRANSFER_PROTOCOL",
  },
  {
    name: "a hello that is not JSON",
    bytes: Buffer.concat([preamble(), frame("{nope")]),
    line: /: The peer sent a message that is not JSON$/m,
    told: "ERR_TRANSFER_PROTOCOL",
  },
  {
    name: "a message of invalid UTF-8",
    bytes: Buffer.concat([
      preamble(),
      frame(
        Buffer.concat([Buffer.from('{"t":"'), INVALID_UTF8.subarray(4, 10), Buffer.from('"}')]),
      ),
    ]),
    line: /: The peer sent an unknown message "\uFFFD+.*"$/m,
    told: "ERR_TRANSFER_PROTOCOL",
  },
  {
    name: "a huge length prefix after the handshake",
    bytes: Buffer.concat([preamble(), HELLO, lengthPrefix(0xffffffff)]),
    line: /: The peer sent a message of 4294967295 bytes \(at most 65536\): not this protocol$/m,
    told: "ERR_TRANSFER_PROTOCOL",
  },
  {
    name: "an offer of a negative length",
    bytes: Buffer.concat([
      preamble(),
      HELLO,
      frame({ t: "offer", have: -1, sha256: null, held: false }),
    ]),
    line: /: The peer sent offer with a bad length$/m,
    told: "ERR_TRANSFER_PROTOCOL",
  },
  {
    name: "an offer of 2^60 bytes",
    bytes: Buffer.concat([
      preamble(),
      HELLO,
      frame({ t: "offer", have: 2 ** 60, sha256: "0".repeat(64), held: false }),
    ]),
    line: /: The peer sent offer with a bad length$/m,
    told: "ERR_TRANSFER_PROTOCOL",
  },
  {
    name: "an unknown message after the handshake",
    bytes: Buffer.concat([preamble(), HELLO, frame({ t: "gimme", all: true })]),
    line: /: The peer sent an unknown message "gimme"$/m,
    told: "ERR_TRANSFER_PROTOCOL",
  },
];

describe("share against bad peers", () => {
  const dir = fileTempDir("share");
  const file = join(dir, "shared.bin");
  const data = garbage(3 * MiB);
  writeFileSync(file, data);
  const server = sharedServer(["share", file, "--port", "0", "--timeout", String(TIMEOUT)]);

  it(
    "tells each bad peer why (an error message once the handshake is done), says it in one line, serves a fetch afterwards, and keeps its memory flat",
    T,
    async (t) => {
      const { port, pid, stderr } = server();
      const round = async () => {
        for (const peer of SHARE_PEERS) {
          const mark = stderr().length;
          const { received, closure } = await exchange(port, peer.bytes, { end: false });
          assert.equal(closure.by, "server", peer.name);
          assert.ok(
            received.subarray(0, 8).equals(encodePreamble("sender")),
            `${peer.name}: preamble`,
          );
          assertTold(peer, received);
          await until(() => peer.line.test(stderr().slice(mark)), `the line about ${peer.name}`);
          const lines = stderr().slice(mark).trimEnd().split("\n");
          assert.equal(
            lines.length,
            1,
            `${peer.name}: one line, no stack trace: ${lines.join(" | ")}`,
          );
        }
      };
      await round(); // warms the server up before measuring
      const before = rssOf(pid);
      for (let i = 0; i < 4; i++) await round();
      const grew = rssOf(pid) - before;
      t.diagnostic(`server RSS grew ${mib(grew)} over 4 rounds of ${SHARE_PEERS.length} bad peers`);
      assert.ok(grew < RSS_BOUND, `server RSS grew ${mib(grew)}`);
      const dst = await tempDir(t);
      await fetch(["127.0.0.1", port], { dir: dst, log: () => {} });
      assert.ok(readFileSync(join(dst, "shared.bin")).equals(data), "the fetch got the file");
    },
  );

  it(
    "closes a silent peer and a slowloris (even one faster than --timeout) after --timeout; a fetch queued behind them is served",
    T,
    async (t) => {
      const { port, stderr } = server();
      const silent = await silentClient(port);
      t.after(() => silent.destroy());
      // A valid start, a byte every half of the timeout: the watchdog counts whole
      // messages, not bytes, so dribbling does not keep the connection.
      const slow = await slowloris(port, {
        periodMs: (TIMEOUT * 1000) / 2,
        payload: Buffer.concat([preamble(), HELLO]),
      });
      t.after(() => slow.stop());
      const dst = await tempDir(t);
      const fetched = fetch(["127.0.0.1", port], { dir: dst, log: () => {} });
      const [s, l] = await Promise.all([silent.closed, slow.closed]);
      for (const [name, c] of [
        ["silent", s],
        ["slowloris", l],
      ] as const) {
        assert.equal(c.by, "server", name);
        assert.ok(c.afterMs >= TIMEOUT * 1000 - 50, `${name} closed after ${c.afterMs} ms`);
        // Served one after the other: the second waits for the first.
        assert.ok(
          c.afterMs < 2 * TIMEOUT * 1000 + 2 * closeSlackMs(TIMEOUT),
          `${name}: ${c.afterMs} ms`,
        );
      }
      assert.ok(slow.sent >= 3, `the slowloris kept sending (${slow.sent} bytes)`);
      await fetched;
      assert.ok(readFileSync(join(dst, "shared.bin")).equals(data), "the fetch got the file");
      assert.equal((stderr().match(/silent for 1 s/g) ?? []).length >= 2, true, stderr());
    },
  );
});

/** Peers that fail before a transfer begins: receive says so in a line and waits on. */
const STRAY_PEERS: BadPeer[] = [
  {
    name: "wrong magic",
    bytes: Buffer.from("SSH-2.0-OpenSSH_9.6\r\n"),
    line: /^ignored 127\.0\.0\.1:\d+: The peer is not a socketkit transfer peer \(it sent "SSH-2\.0-"\)$/,
    told: null,
  },
  {
    name: "an unknown protocol version",
    bytes: preamble("SKXF", 7, "S"),
    line: /^ignored 127\.0\.0\.1:\d+: The peer speaks transfer protocol version 7; this socketkit speaks 2$/,
    told: null,
  },
  {
    name: "the same role (two receivers)",
    bytes: preamble("SKXF", TRANSFER_VERSION, "R"),
    line: /^ignored 127\.0\.0\.1:\d+: Both sides are receivers: one side must send and the other receive$/,
    told: null,
  },
  {
    name: "a huge length prefix in place of hello",
    bytes: Buffer.concat([preamble("SKXF", TRANSFER_VERSION, "S"), lengthPrefix(0xffffffff)]),
    line: /^ignored 127\.0\.0\.1:\d+: The peer sent a message of 4294967295 bytes \(at most 65536\): not this protocol$/,
    told: "ERR_TRANSFER_PROTOCOL",
  },
  {
    name: "a hello that is not JSON",
    bytes: Buffer.concat([preamble("SKXF", TRANSFER_VERSION, "S"), frame("{nope")]),
    line: /^ignored 127\.0\.0\.1:\d+: The peer sent a message that is not JSON$/,
    told: "ERR_TRANSFER_PROTOCOL",
  },
];

/** Senders that pass the handshake and then fail: the transfer fails, receive exits 1. */
const RECEIVE_PEERS: BadPeer[] = [
  {
    name: "a huge length prefix",
    bytes: Buffer.concat([
      preamble("SKXF", TRANSFER_VERSION, "S"),
      HELLO,
      lengthPrefix(0x7fffffff),
    ]),
    line: /^socketkit: The peer sent a message of 2147483647 bytes \(at most 65536\): not this protocol$/,
    told: "ERR_TRANSFER_PROTOCOL",
  },
  {
    name: "a malformed size",
    bytes: Buffer.concat([
      preamble("SKXF", TRANSFER_VERSION, "S"),
      HELLO,
      frame({ t: "file", path: "a.bin", size: "12", exec: false }),
    ]),
    line: /^socketkit: The peer sent file with a bad size$/,
    told: "ERR_TRANSFER_PROTOCOL",
  },
  {
    name: "a huge size",
    bytes: Buffer.concat([
      preamble("SKXF", TRANSFER_VERSION, "S"),
      HELLO,
      frame({ t: "file", path: "huge.bin", size: Number.MAX_SAFE_INTEGER, exec: false }),
    ]),
    line: /^socketkit: Refused "huge\.bin": 9007199254740991 bytes and only \d+ free on the disk$/,
    told: "ERR_TRANSFER_SIZE",
  },
  {
    name: "file data cut short",
    bytes: Buffer.concat([
      preamble("SKXF", TRANSFER_VERSION, "S"),
      HELLO,
      encodeMessage({ t: "file", path: "cut.bin", size: 1000, exec: false }),
      encodeMessage({ t: "data", from: 0 }),
      Buffer.alloc(10, "z"),
    ]),
    line: /^socketkit: The sender closed the connection with 990 bytes of the file still due$/,
    told: "ERR_TRANSFER_CLOSED",
    endsAfterOffer: true,
  },
];

describe("receive against bad senders", () => {
  it(
    "exits 1 with one line saying why once the transfer has begun, tells the sender when the protocol allows, and writes nothing",
    T,
    async (t) => {
      const runs = await Promise.all(
        RECEIVE_PEERS.map(async (peer) => {
          const { dst: dir, rx, port } = await receiver(t, ["--timeout", "5"]);
          const client = await HostileClient.connect(port);
          t.after(() => client.destroy());
          await client.write(peer.bytes);
          // A sender cut short closes; the others wait to be told.
          if (peer.endsAfterOffer) {
            await client.waitFor((got) => messagesIn(got).some((m) => m.t === "offer"));
            client.end();
          }
          const closure = await client.closed;
          return { peer, dir, rx, code: await rx.exited, closure, received: client.received() };
        }),
      );
      for (const { peer, dir, rx, code, closure, received } of runs) {
        assert.equal(code, 1, `${peer.name}: exit status`);
        const lines = rx.stderr().trimEnd().split("\n");
        assert.match(lines[0] as string, /^listening on 127\.0\.0\.1:\d+ \(tcp\)$/);
        assert.equal(
          lines.length,
          2,
          `${peer.name}: one line after listening: ${lines.join(" | ")}`,
        );
        assert.match(lines[1] as string, peer.line, peer.name);
        assert.equal(closure.by, "server", `${peer.name}: closed by receive`);
        assertTold(peer, received);
        const left = readdirSync(dir);
        assert.ok(
          left.every((name) => name === STAGING_DIR),
          `${peer.name}: nothing under a final name (${left.join(", ")})`,
        );
      }
    },
  );

  it(
    "keeps waiting for its sender after a connection that is not a transfer peer (a port scan)",
    T,
    async (t) => {
      const { file, dst, rx, port } = await receiverFor(t, "real.txt", "the real thing");
      const scan = await HostileClient.connect(port);
      scan.destroy();
      await until(() => rx.stderr().trimEnd().split("\n").length > 1, "a line about the scan");
      await send([file], ["127.0.0.1", port], { log: () => {} });
      assert.equal(await rx.exited, 0, rx.stderr());
      assert.equal(readFileSync(join(dst, "real.txt"), "utf8"), "the real thing");
      const lines = rx.stderr().trimEnd().split("\n");
      assert.match(lines[1] as string, /^ignored 127\.0\.0\.1:\d+: /, "one line about the scan");
      assert.match(lines[2] as string, /^received real\.txt, 14 bytes/);
    },
  );

  it(
    "says in one line why each peer that fails before its transfer begins is closed, tells it when the protocol allows, and takes its sender afterwards",
    T,
    async (t) => {
      const runs = await Promise.all(
        STRAY_PEERS.map(async (peer) => {
          const { file, dst, rx, port } = await receiverFor(t, "after.txt", peer.name, [
            "--timeout",
            "5",
          ]);
          const { received, closure } = await exchange(port, peer.bytes, { end: false });
          await until(() => rx.stderr().trimEnd().split("\n").length > 1, `${peer.name}: a line`);
          await send([file], ["127.0.0.1", port], { log: () => {} });
          return { peer, dst, rx, code: await rx.exited, closure, received };
        }),
      );
      for (const { peer, dst, rx, code, closure, received } of runs) {
        assert.equal(code, 0, `${peer.name}: ${rx.stderr()}`);
        const lines = rx.stderr().trimEnd().split("\n");
        assert.equal(lines.length, 3, `${peer.name}: ${lines.join(" | ")}`);
        assert.match(lines[1] as string, peer.line, peer.name);
        assert.match(lines[2] as string, /^received after\.txt, /, peer.name);
        assert.equal(closure.by, "server", `${peer.name}: closed by receive`);
        assertTold(peer, received);
        assert.equal(readFileSync(join(dst, "after.txt"), "utf8"), peer.name);
      }
    },
  );

  it(
    "writes a few lines for a flood of stray connections, not one each, and takes its sender",
    T,
    async (t) => {
      const { file, dst, rx, port } = await receiverFor(t, "f.txt", "after the flood");
      // 200 peers that are not transfer peers, each sending other bytes (other words in the
      // line about it), 20 at a time.
      const started = performance.now();
      for (let round = 0; round < 10; round++) {
        await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            exchange(port, Buffer.from(`junk ${round * 20 + i}`.padEnd(8, ".")), { end: false }),
          ),
        );
      }
      await send([file], ["127.0.0.1", port], { log: () => {} });
      assert.equal(await rx.exited, 0, rx.stderr());
      // At most 10 lines and a summary per 10 s window (one, unless the machine is slow).
      const windows = Math.ceil((performance.now() - started) / 10_000);
      const ignored = rx
        .stderr()
        .split("\n")
        .filter((l) => l.startsWith("ignored "));
      assert.ok(ignored.length <= 11 * windows, `${ignored.length} lines: ${ignored.join(" | ")}`);
      let counted = 0;
      for (const line of ignored) {
        const summed = /^ignored (\d+) more connections \(not logged one by one\)$/.exec(line);
        counted += summed === null ? 1 : Number(summed[1]);
      }
      assert.equal(counted, 200, "every one counted, in a line of its own or a summary");
      assert.equal(readFileSync(join(dst, "f.txt"), "utf8"), "after the flood");
    },
  );
});
