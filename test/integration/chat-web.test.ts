/**
 * The chat's web side with real connections: the page over HTTP(S), and members over its
 * WebSocket (the `ws` client, as the page is) in the same room as plain TCP members.
 */
import assert from "node:assert/strict";
import { request } from "node:http";
import { describe, it } from "node:test";
import fc from "fast-check";
import { WebSocket } from "ws";
import { serverTls } from "../../src/apps/tls-setup.ts";
import { escapeControls } from "../../src/core/escape.ts";
import {
  nickColor,
  PALETTE,
  escapeControls as pageEscapeControls,
  parseLine,
} from "../../web/chat/text.js";
import { chatRoom, RawMember, WsMember, wsUrl } from "../helpers/chat.ts";
import { until } from "../helpers/net.ts";
import { errorOutputFrom, socketkit } from "../helpers/proc.ts";

const T = { timeout: 30_000 };

/** An HTTP GET of the page's server; the status, headers and body. */
function get(
  url: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Whether opening the WebSocket is refused (the HTTP status), or null when it opens. */
function upgradeStatus(url: string, headers: Record<string, string>): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(url), { headers });
    ws.once("open", () => {
      ws.terminate();
      resolve(null);
    });
    ws.once("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once("error", (err) => {
      if (ws.readyState !== WebSocket.CLOSED) reject(err);
    });
  });
}

describe("chat web page", () => {
  it("serves the page's files with an ETag (304 when unchanged) and a strict CSP", T, async (t) => {
    const { web } = await chatRoom(t, { webPort: 0, maxLineLength: 700 });
    const page = await get(web);
    assert.equal(page.status, 200);
    assert.match(String(page.headers["content-type"]), /^text\/html/);
    assert.match(page.body, /<div id="log" role="log"/);
    assert.match(page.body, /<label for="line">/);
    assert.match(page.body, /content="700"/, "the page is told the line limit");
    const csp = String(page.headers["content-security-policy"]);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe|\*/);
    assert.equal(page.headers["x-content-type-options"], "nosniff");
    const etag = String(page.headers.etag);
    assert.match(etag, /^"[\w-]+"$/);
    const again = await get(web, { "if-none-match": etag });
    assert.equal(again.status, 304);
    assert.equal(again.body, "");
    for (const file of ["chat.js", "text.js", "chat.css"]) {
      const res = await get(`${web}${file}`);
      assert.equal(res.status, 200, file);
      assert.ok(res.headers.etag, file);
      assert.ok(res.headers["content-security-policy"], file);
    }
    assert.match(String((await get(`${web}chat.js`)).headers["content-type"]), /javascript/);
    assert.equal((await get(`${web}../package.json`)).status, 404);
    assert.equal((await get(`${web}nope`)).status, 404);
    assert.equal((await get(web, {}, "POST")).status, 405);
    const head = await get(web, {}, "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.body, "");
    assert.equal((await get(`${web}ws`)).status, 426);
  });

  it(
    "WebSocket and TCP members talk both ways: messages, /me, /msg, /who, joins and leaves",
    T,
    async (t) => {
      const { port, web } = await chatRoom(t, { webPort: 0 });
      const tcp = await RawMember.join(t, port, "nc");
      const browser = await WsMember.connect(t, web);
      await browser.waitFor("*** Choose a nickname: ");
      // One line a message: nothing the room sends holds a line end.
      assert.ok(
        browser.frames.every((f) => !/[\r\n]/.test(f)),
        JSON.stringify(browser.frames),
      );
      assert.equal(browser.frames[0], "*** Welcome to socketkit chat, room lobby.");
      assert.equal(browser.frames[1], "*** Online (1): nc");
      browser.send("webby");
      await browser.waitFor("*** You are webby.");
      await tcp.waitFor("*** webby joined");
      tcp.send("hello browser\n");
      await browser.waitFor(/\[\d\d:\d\d:\d\d\] <nc> hello browser\n/);
      browser.send("hello terminal");
      await tcp.waitFor(/\[\d\d:\d\d:\d\d\] <webby> hello terminal\r\n/);
      browser.send("/me waves");
      await tcp.waitFor("* webby waves");
      browser.send("/msg nc a secret");
      await tcp.waitFor("(private) <webby> a secret");
      await browser.waitFor("(private to nc) <webby> a secret");
      tcp.send("/msg webby back\n");
      await browser.waitFor("(private) <nc> back");
      browser.send("/who");
      await browser.waitFor("*** Online (2): nc, webby");
      // Several lines in one message are several lines.
      browser.send("one\ntwo");
      await tcp.waitFor("<webby> two");
      assert.match(tcp.text, /<webby> one\r\n.*<webby> two/s);
      browser.send("/quit bye all");
      await tcp.waitFor("*** webby left (quit: bye all)");
      const closed = await browser.closed;
      assert.equal(closed.code, 1000);
      assert.match(browser.text, /\*\*\* Bye\.\n$/);
    },
  );

  it("shows a browser member the history on joining, and rooms apply to it", T, async (t) => {
    const { port, web } = await chatRoom(t, { webPort: 0 });
    const tcp = await RawMember.join(t, port, "nc");
    tcp.send("first\nsecond\n");
    const browser = await WsMember.connect(t, web);
    await browser.waitFor("*** Choose a nickname: ");
    assert.match(
      browser.text,
      /\*\*\* The last 2 messages:\n\[[\d:]+\] <nc> first\n\[[\d:]+\] <nc> second\n/,
    );
    browser.send("webby");
    await browser.waitFor("You are webby.");
    browser.send("/join side");
    await browser.waitFor("*** You are in room side.");
    await tcp.waitFor("*** webby left (gone to side)");
    tcp.send("/join side\n");
    await browser.waitFor("*** nc joined");
    browser.send("/rooms");
    await browser.waitFor("*** Rooms (1): side (2)");
  });

  it("closes a message over the line limit (maxPayload) and takes one at it", T, async (t) => {
    const { port, web } = await chatRoom(t, { webPort: 0, maxLineLength: 100 });
    const tcp = await RawMember.join(t, port, "nc");
    const browser = await WsMember.join(t, web, "webby");
    browser.send("x".repeat(96));
    await tcp.waitFor(`<webby> ${"x".repeat(96)}`);
    browser.send("y".repeat(101));
    const closed = await browser.closed;
    assert.equal(closed.code, 1009);
    await tcp.waitFor("*** webby left (disconnected: a line longer than 100 bytes)");
  });

  it("refuses messages over the rate, as for any member", T, async (t) => {
    const { port, web } = await chatRoom(t, { webPort: 0, rate: 2, burst: 3 });
    const tcp = await RawMember.join(t, port, "nc");
    const browser = await WsMember.join(t, web, "webby");
    for (let i = 0; i < 6; i++) browser.send(`m${i}`);
    await browser.waitFor("error: too many messages: at most 2 a second, slow down");
    await tcp.waitFor("<webby> m2");
    assert.doesNotMatch(tcp.text, /<webby> m5/);
  });

  it(
    "gives a browser member the lines of many members sent at once, one message a line, in the room's order",
    T,
    async (t) => {
      const { port, web } = await chatRoom(t, { webPort: 0, maxLineLength: 300 });
      const browser = await WsMember.join(t, web, "webby");
      const watcher = await RawMember.join(t, port, "watcher");
      const senders = await Promise.all(
        Array.from({ length: 12 }, (_, i) => RawMember.join(t, port, `s${i}`)),
      );
      await browser.waitFor("*** s11 joined");
      browser.take();
      watcher.take();
      // Lines on both sides of 125 bytes, where a frame's length goes from 7 bits to 16, all
      // read by the server at once and framed together at the end of its turn.
      for (const [i, s] of senders.entries()) s.send(`${"x".repeat(100 + i * 4)} ${i}\n`);
      await browser.waitFor(/<s11> x+ 11\n/);
      const got = browser.frames.filter((f) => /<s\d+> x+ \d+$/.test(f));
      assert.equal(got.length, 12, JSON.stringify(browser.frames));
      for (const f of got) {
        const m = /<s(\d+)> (x+) \d+$/.exec(f) as RegExpExecArray;
        assert.equal(m[2]?.length, 100 + Number(m[1]) * 4);
      }
      // The same order as a TCP member sees.
      await watcher.waitFor(/<s11> x+ 11\r\n/);
      const tcpOrder = [...watcher.text.matchAll(/<s(\d+)> x+/g)].map((m) => m[1]);
      assert.deepEqual(
        got.map((f) => /<s(\d+)>/.exec(f)?.[1]),
        tcpOrder,
      );
    },
  );

  it("disconnects a browser member that stops reading (bufferedAmount), the others get every message", {
    timeout: 60_000,
  }, async (t) => {
    const { port, web } = await chatRoom(t, {
      webPort: 0,
      outboxLimit: 128 * 1024,
      rate: 1_000_000,
      burst: 1_000_000,
      maxLineLength: 8192,
    });
    const sender = await RawMember.join(t, port, "sender");
    const reader = await WsMember.join(t, web, "reader");
    const stuck = await WsMember.join(t, web, "stuck");
    stuck.ws.pause(); // reads nothing from now on
    await reader.waitFor("stuck joined");
    reader.take();
    const line = "y".repeat(8000);
    let sent = 0;
    for (let extra = 0; extra < 20 && sent < 20_000; sent++) {
      if (!sender.socket.write(`${sent} ${line}\n`))
        await new Promise((r) => sender.socket.once("drain", r));
      if (sender.text.includes("stuck left")) extra++;
      if (sent % 50 === 49) await new Promise((r) => setImmediate(r));
    }
    await sender.waitFor("*** stuck left (disconnected: not reading)");
    await reader.waitFor(`<sender> ${sent - 1} `, 30_000);
    const got = reader.frames.filter((f) => /<sender> \d+ y+$/.test(f));
    assert.equal(got.length, sent, "the reader got every message");
  });

  it("closes a browser member idle past the idle timeout", T, async (t) => {
    const { port, web, logs } = await chatRoom(t, { webPort: 0, idleTimeout: 0.3 });
    const tcp = await RawMember.join(t, port, "nc");
    const browser = await WsMember.join(t, web, "webby");
    const talking = setInterval(() => tcp.send("/who\n"), 50);
    t.after(() => clearInterval(talking));
    await browser.closed;
    await until(() => logs.some((l) => /webby left \(idle for 0\.3 s\)/.test(l)), "the log line");
  });

  it("tells a browser member the room is full", T, async (t) => {
    const { port, web } = await chatRoom(t, { webPort: 0, maxMembers: 1 });
    await RawMember.join(t, port, "nc");
    const browser = await WsMember.connect(t, web);
    await browser.waitFor("error: the room is full (1 members)");
    assert.equal((await browser.closed).code, 1000);
  });

  it("lets only the page's own origin (and --web-origin) open the WebSocket", T, async (t) => {
    const { web } = await chatRoom(t, {
      webPort: 0,
      webOrigins: ["https://chat.example.org"],
    });
    const host = new URL(web).host;
    assert.equal(await upgradeStatus(web, { origin: `http://${host}` }), null);
    assert.equal(await upgradeStatus(web, { origin: "https://chat.example.org" }), null);
    assert.equal(await upgradeStatus(web, {}), null, "no Origin: not a browser page");
    assert.equal(await upgradeStatus(web, { origin: "https://evil.example" }), 403);
    assert.equal(await upgradeStatus(web, { origin: "null" }), 403);
    assert.equal(await upgradeStatus(web, { origin: `https://${host}` }), 403, "another scheme");
    // A name pointed at 127.0.0.1 (DNS rebinding): same "origin", not the server's own.
    const port = new URL(web).port;
    const rebound = `evil.example:${port}`;
    assert.equal(await upgradeStatus(web, { origin: `http://${rebound}`, host: rebound }), 403);
    assert.equal(
      await upgradeStatus(web, { origin: `http://localhost:${port}`, host: `localhost:${port}` }),
      null,
    );
  });

  it("caps connections per address", T, async (t) => {
    const { web, logs } = await chatRoom(t, { webPort: 0, webMaxPerAddress: 2 });
    const a = await WsMember.connect(t, web);
    const b = await WsMember.connect(t, web);
    await assert.rejects(WsMember.connect(t, web));
    assert.ok(
      logs.some((l) => /over 2 connections from one address/.test(l)),
      logs.join("\n"),
    );
    a.ws.close();
    await a.closed;
    // A place is free again once one has gone (the server may see the close a little later).
    for (let i = 0; ; i++) {
      try {
        await WsMember.connect(t, web);
        break;
      } catch (err) {
        if (i > 50) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    b.ws.close();
  });

  it("applies --allow and --deny to the web port", T, async (t) => {
    const denied = await chatRoom(t, { webPort: 0, deny: ["127.0.0.1"] });
    await assert.rejects(get(denied.web));
    await assert.rejects(WsMember.connect(t, denied.web));
    assert.ok(denied.logs.some((l) => /refused 127\.0\.0\.1:\d+ \(denied\)/.test(l)));
    const allowed = await chatRoom(t, { webPort: 0, allow: ["127.0.0.0/8"] });
    assert.equal((await get(allowed.web)).status, 200);
  });

  it("serves https and wss with TLS options (a self-signed certificate)", T, async (t) => {
    const tls = await serverTls({ selfSigned: true });
    const { port, web } = await chatRoom(t, { webPort: 0, webTls: tls.options });
    assert.match(web, /^https:\/\//);
    const tcp = await RawMember.join(t, port, "nc");
    const browser = await WsMember.join(t, web, "secure", { rejectUnauthorized: false });
    await tcp.waitFor("*** secure joined");
    browser.send("over wss");
    await tcp.waitFor("<secure> over wss");
    const res = await fetch(web).catch((err: unknown) => err);
    assert.ok(res instanceof Error, "an unverified certificate is refused by a checking client");
  });

  it("says goodbye to browser members when the server stops", T, async (t) => {
    const { web, stop } = await chatRoom(t, { webPort: 0 });
    const browser = await WsMember.join(t, web, "webby");
    await stop();
    await browser.closed;
    assert.match(browser.text, /\*\*\* The server is shutting down\. Bye\.\n/);
  });
});

describe("the page's text rules", () => {
  it("escape control characters as the terminal does", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        assert.equal(pageEscapeControls(s), escapeControls(s));
      }),
      { numRuns: 2000 },
    );
    const nasty = "\x1b[2J\u202eevil\u0007\u009b\t<img src=x>";
    assert.equal(pageEscapeControls(nasty), escapeControls(nasty));
  });

  it("colour nicknames as chat join does, and split lines into their parts", () => {
    assert.deepEqual([...PALETTE], ["cyan", "green", "yellow", "blue", "magenta", "red"]);
    // The hash chat join uses: h = h * 31 + code point, modulo the palette.
    assert.equal(nickColor("a"), PALETTE[97 % 6]);
    const said = parseLine("[12:00:01] <alice> hi <b>there</b>");
    assert.equal(said.kind, "message");
    assert.equal(said.nick, "alice");
    assert.equal(said.time, "12:00:01");
    assert.equal(said.text, " hi <b>there</b>");
    assert.equal(parseLine("[12:00:01] (private to bob) <alice> x").kind, "private");
    assert.equal(parseLine("[12:00:01] * alice waves").kind, "action");
    assert.equal(parseLine("[12:00:01] *** alice joined").kind, "notice");
    const late = parseLine("[12:00:01] (late) <alice> hi");
    assert.deepEqual([late.kind, late.prefix, late.nick], ["message", "(late) ", "alice"]);
    assert.equal(parseLine("[12:00:01] (late) * alice waves").kind, "action");
    assert.equal(parseLine("[12:00:01] (late) *** bob joined").text, "(late) *** bob joined");
    assert.equal(parseLine("error: nope").kind, "error");
    assert.equal(parseLine("*** Choose a nickname: ").kind, "prompt");
    assert.equal(parseLine("[12:00:01] <a\x1b> \u202ex").text, " <U+202E>x");
  });
});

describe("socketkit chat serve --web-port", () => {
  it(
    "serves the page and says where, over https with --tls-self-signed; --web-tls without --web-port is a usage error",
    T,
    async (t) => {
      const server = socketkit(["chat", "serve", "--port", "0", "--web-port", "0"]);
      t.after(() => server.stop());
      await errorOutputFrom(server, (err) =>
        /or in a browser: http:\/\/127\.0\.0\.1:\d+\//.test(err),
      );
      const url = /or in a browser: (\S+)/.exec(server.stderr())?.[1] as string;
      assert.equal((await get(url)).status, 200);
      const member = await WsMember.join(t, url, "cli");
      member.send("/who");
      await member.waitFor("*** Online (1): cli");
      const tls = socketkit([
        "chat",
        "serve",
        "--port",
        "0",
        "--web-port",
        "0",
        "--tls-self-signed",
      ]);
      t.after(() => tls.stop());
      await errorOutputFrom(tls, (err) => /or in a browser: https:\/\//.test(err));
      assert.match(tls.stderr(), /tls certificate SHA-256 fingerprint [0-9A-F:]{95}\n/);
      const secureUrl = /or in a browser: (\S+)/.exec(tls.stderr())?.[1] as string;
      const secure = await WsMember.join(t, secureUrl, "sec", { rejectUnauthorized: false });
      secure.send("/who");
      await secure.waitFor("*** Online (1): sec");
      const usage = socketkit(["chat", "serve", "--port", "0", "--web-tls"]);
      assert.equal(await usage.exited, 2);
      assert.match(usage.stderr(), /go with --web-port/);
      const certAlone = socketkit(["chat", "serve", "--port", "0", "--cert", "c.pem"]);
      assert.equal(await certAlone.exited, 2);
      assert.match(certAlone.stderr(), /--cert and --key go with --web-tls/);
      const origin = socketkit([
        "chat",
        "serve",
        "--port",
        "0",
        "--web-port",
        "0",
        "--web-origin",
        "nope",
      ]);
      assert.equal(await origin.exited, 2);
      assert.match(origin.stderr(), /expected origins/);
    },
  );
});
