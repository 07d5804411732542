/**
 * The chat's web page in a real browser: Debian's Chromium driven by playwright-core (no
 * browser is downloaded), in the same room as members over plain TCP (as nc is) and the
 * real nc when there is one. Skipped, saying why, where Chromium cannot be had.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import axe from "axe-core";
import type { BrowserContext, Page } from "playwright-core";
import { chatRoom, RawMember } from "../helpers/chat.ts";
import { ROOT } from "../helpers/proc.ts";

const CHROMIUM = process.env.SOCKETKIT_CHROMIUM ?? "/usr/bin/chromium";
const T = { timeout: 60_000 };

async function browserProblem(): Promise<string | false> {
  if (!existsSync(CHROMIUM)) return `Chromium is not installed (${CHROMIUM})`;
  try {
    await import("playwright-core");
  } catch {
    return "playwright-core is not installed";
  }
  return false;
}

const skip = await browserProblem();
if (skip !== false) process.stderr.write(`chat browser tests skipped: ${skip}\n`);

/** A tool such as nc on PATH, or null. */
function tool(name: string): string | null {
  const found = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  return found.status === 0 ? found.stdout.trim() : null;
}

// This file is compiled without the DOM's types: what runs in the page is an expression
// (page.evaluate), or a function that sees the page's globals through this type
// (waitForFunction, whose strings the page's CSP refuses to evaluate).
const FOCUSED = "document.activeElement?.id";
interface InPage {
  document: { getElementById(id: string): { textContent: string | null } | null };
}

let context: BrowserContext;
let profile: string;

/** A page of its own, closed when the test ends; failing the test on a dialog or page error. */
async function openPage(t: TestContext, url: string, width = 1280, height = 720): Promise<Page> {
  const page = await context.newPage();
  t.after(() => page.close());
  await page.setViewportSize({ width, height });
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(err.message));
  page.on("dialog", (dialog) => {
    errors.push(`a dialog opened: ${dialog.message()}`);
    void dialog.dismiss();
  });
  t.after(() => assert.deepEqual(errors, [], "no script error, no dialog"));
  await page.goto(url);
  return page;
}

/** Joins as `nick` from the keyboard (the nickname field has focus when asked). */
async function joinAs(page: Page, nick: string): Promise<void> {
  await page.locator("#nick-form:not([hidden])").waitFor();
  assert.equal(await page.evaluate(FOCUSED), "nick");
  await page.keyboard.type(nick);
  await page.keyboard.press("Enter");
  await page.locator("#say-form:not([hidden])").waitFor();
  await logHas(page, `*** You are ${nick}.`);
}

/** Types a line in the message field and sends it with Enter. */
async function say(page: Page, text: string): Promise<void> {
  await page.locator("#line").focus();
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
}

/** Waits until the transcript's text holds `text`. */
async function logHas(page: Page, text: string, timeout = 15_000): Promise<void> {
  await page.waitForFunction(
    ([id, want]) =>
      ((globalThis as unknown as InPage).document.getElementById(id)?.textContent ?? "").includes(
        want,
      ),
    ["log", text] as const,
    { timeout },
  );
}

/** The transcript as lines of text. */
function transcript(page: Page): Promise<string[]> {
  return page.$$eval("#log .line", (rows) => rows.map((r) => r.textContent ?? ""));
}

/** A TCP proxy to `port` that the test can cut, and keep down, and put back. */
async function cuttableProxy(t: TestContext, port: number) {
  const pairs = new Set<Socket>();
  let down = false;
  const server: Server = createServer((client) => {
    client.on("error", () => {});
    if (down) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: "127.0.0.1", port });
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    pairs.add(client);
    pairs.add(upstream);
    client.on("close", () => pairs.delete(client));
    upstream.on("close", () => pairs.delete(upstream));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const s of pairs) s.destroy();
    server.close();
  });
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}/`,
    cut() {
      down = true;
      for (const s of pairs) s.destroy();
    },
    up() {
      down = false;
    },
  };
}

describe("chat web page in Chromium", { skip }, () => {
  before(async () => {
    const { chromium } = await import("playwright-core");
    profile = mkdtempSync(join(tmpdir(), "socketkit-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });

  after(async () => {
    await context?.close();
    if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
  });

  it("two pages and a TCP member (and nc) talk to each other both ways", T, async (t) => {
    const { port, web } = await chatRoom(t, { webPort: 0 });
    const term = await RawMember.join(t, port, "term");
    term.send("before anyone\n");
    const alice = await openPage(t, web);
    // History on joining, before the nickname is asked.
    await logHas(alice, "<term> before anyone");
    await joinAs(alice, "alice");
    const bob = await openPage(t, web);
    await joinAs(bob, "bob");
    await logHas(alice, "*** bob joined");
    await term.waitFor("*** bob joined");

    await say(alice, "hello from alice");
    await logHas(bob, "<alice> hello from alice");
    await term.waitFor("<alice> hello from alice");
    await logHas(alice, "<alice> hello from alice"); // the page shows its own

    term.send("hello from the terminal\n");
    await logHas(alice, "<term> hello from the terminal");
    await logHas(bob, "<term> hello from the terminal");

    await say(bob, "/me waves");
    await logHas(alice, "* bob waves");
    await term.waitFor("* bob waves");

    await say(bob, "/msg alice psst");
    await logHas(alice, "(private) <bob> psst");
    const priv = alice.locator("#log .line.private", { hasText: "psst" });
    assert.equal(await priv.count(), 1, "a private message is styled apart");
    // Nicknames coloured as chat join colours them (the same hash, the same palette).
    const bobClass = await alice
      .locator("#log .line", { hasText: "hello from" })
      .filter({ hasText: "<term>" })
      .locator(".nick")
      .getAttribute("class");
    assert.match(bobClass ?? "", /^nick (cyan|green|yellow|blue|magenta|red)$/);
    // Every line has its time.
    const times = await alice.$$eval("#log .line time", (ts) => ts.map((e) => e.textContent));
    assert.ok(
      times.length > 5 && times.every((x) => /^\d\d:\d\d:\d\d$/.test(x ?? "")),
      String(times),
    );

    await say(alice, "/who");
    await logHas(alice, "*** Online (3): alice, bob, term");

    const nc = tool("nc") ?? tool("ncat");
    if (nc === null) {
      t.diagnostic("no nc or ncat on PATH: the real nc part is skipped");
      return;
    }
    const child = spawn(nc, ["127.0.0.1", String(port)], { stdio: ["pipe", "pipe", "ignore"] });
    t.after(() => child.kill());
    let ncOut = "";
    child.stdout.on("data", (c: Buffer) => {
      ncOut += c.toString();
    });
    child.stdin.write("ncuser\n");
    await logHas(alice, "*** ncuser joined");
    child.stdin.write("typed into nc\n");
    await logHas(bob, "<ncuser> typed into nc");
    await say(bob, "back to nc");
    await term.waitFor("<bob> back to nc");
    const deadline = Date.now() + 10_000;
    while (!ncOut.includes("<bob> back to nc") && Date.now() < deadline) {
      await new Promise((r) => child.stdout.once("data", r));
    }
    assert.match(ncOut, /<bob> back to nc/);
  });

  it(
    "shows markup, scripts, escape sequences and RTL overrides as text, running nothing",
    T,
    async (t) => {
      const { port, web } = await chatRoom(t, { webPort: 0, rate: 100, burst: 100 });
      const evil = await RawMember.join(t, port, "evil");
      const page = await openPage(t, web);
      await joinAs(page, "victim");
      const other = await openPage(t, web);
      await joinAs(other, "webevil");
      const attempts = [
        `<img src=x onerror="window.__xss='img'">`,
        `<script>window.__xss='script'</script>`,
        `<a href="javascript:window.__xss='link'">click</a>`,
        `<style>body{display:none}</style>`,
        "\x1b[2J\x1b[31mred\x1b]0;title\x07",
        "abc\u202edcba\u2066x",
      ];
      for (const line of attempts) evil.send(`${line}\n`);
      await say(
        other,
        `<img src=x onerror="window.__xss='page'"><svg onload="window.__xss='svg'">`,
      );
      await logHas(page, "<svg onload=");
      await logHas(page, "<U+202E>dcba<U+2066>x");
      const text = (await transcript(page)).join("\n");
      assert.ok(text.includes(`<img src=x onerror="window.__xss='img'">`));
      assert.ok(text.includes("<script>window.__xss='script'</script>"));
      assert.ok(text.includes("^[[2J^[[31mred^[]0;title^G"), text);
      assert.ok(text.includes("abc<U+202E>dcba<U+2066>x"));
      const found = await page.evaluate(`({
      xss: window.__xss ?? null,
      elements: document.querySelectorAll("#log img, #log script, #log a, #log style, #log svg").length,
      hidden: getComputedStyle(document.body).display,
    })`);
      assert.deepEqual(found, { xss: null, elements: 0, hidden: "flex" });
    },
  );

  it("survives a server restart by reconnecting, keeping its nickname", T, async (t) => {
    const first = await chatRoom(t, { webPort: 0 });
    const webPort = Number(new URL(first.web).port);
    const page = await openPage(t, first.web);
    await joinAs(page, "alice");
    await first.stop();
    await logHas(page, "The server is shutting down");
    await page.waitForFunction(() =>
      /reconnect/i.test(
        (globalThis as unknown as InPage).document.getElementById("status")?.textContent ?? "",
      ),
    );
    const second = await chatRoom(t, { webPort, port: 0 });
    const term = await RawMember.join(t, second.port, "term");
    await term.waitFor("*** alice joined", 30_000);
    await logHas(page, "*** Reconnected.");
    term.send("welcome back\n");
    await logHas(page, "<term> welcome back");
    await say(page, "glad to be back");
    await term.waitFor("<alice> glad to be back");
  });

  it("shows what it missed from the room's history after a lost connection, once", T, async (t) => {
    const { port, web } = await chatRoom(t, { webPort: 0 });
    const proxy = await cuttableProxy(t, Number(new URL(web).port));
    const term = await RawMember.join(t, port, "term");
    const page = await openPage(t, proxy.url);
    await joinAs(page, "alice");
    term.send("seen before\n");
    await logHas(page, "<term> seen before");
    proxy.cut();
    await term.waitFor("*** alice left");
    term.send("missed one\nmissed two\n");
    proxy.up();
    await term.waitFor("*** alice joined", 30_000);
    await logHas(page, "<term> missed two");
    const lines = await transcript(page);
    const count = (s: string) => lines.filter((l) => l.includes(s)).length;
    assert.equal(count("<term> seen before"), 1, "what was seen is not shown again");
    assert.equal(count("<term> missed one"), 1);
    assert.equal(count("*** While you were away:"), 1);
    assert.ok(
      lines.findIndex((l) => l.includes("While you were away")) <
        lines.findIndex((l) => l.includes("missed one")),
    );
  });

  it("goes back to its room after a lost connection", T, async (t) => {
    const { port, web } = await chatRoom(t, { webPort: 0 });
    const proxy = await cuttableProxy(t, Number(new URL(web).port));
    const term = await RawMember.join(t, port, "term");
    term.send("/join side\n");
    const page = await openPage(t, proxy.url);
    await joinAs(page, "alice");
    await say(page, "/join side");
    await logHas(page, "*** You are in room side.");
    proxy.cut();
    await term.waitFor("*** alice left");
    term.take();
    proxy.up();
    await term.waitFor("*** alice joined", 30_000);
    await page.waitForFunction(() =>
      (
        (globalThis as unknown as InPage).document.getElementById("where")?.textContent ?? ""
      ).includes("room side"),
    );
  });

  it(
    "passes axe-core's accessibility checks, light and dark, 320 px and desktop; screenshots to build/",
    T,
    async (t) => {
      const { port, web } = await chatRoom(t, { webPort: 0 });
      const term = await RawMember.join(t, port, "grace");
      term.send("Has anyone tried the web page?\n");
      term.send("/me pours coffee\n");
      const out = join(ROOT, "build");
      mkdirSync(out, { recursive: true });
      for (const [width, height] of [
        [320, 640],
        [1280, 720],
      ] as const) {
        const page = await openPage(t, web, width, height);
        const nick = `ada${width}`;
        await joinAs(page, nick);
        await say(page, "It works from a browser, and the terminal sees it.");
        await term.waitFor(`<${nick}> It works`);
        term.send(`/msg ${nick} welcome aboard\n`);
        await logHas(page, "(private) <grace> welcome aboard");
        // Readable at this width: nothing wider than the window.
        const overflow = await page.evaluate(
          "document.documentElement.scrollWidth - document.documentElement.clientWidth",
        );
        assert.equal(overflow, 0, `no sideways scrolling at ${width} px`);
        // Keyboard only: Tab goes from the transcript to the field to its button.
        await page.locator("#log").focus();
        await page.keyboard.press("Tab");
        assert.equal(await page.evaluate(FOCUSED), "line");
        await page.keyboard.press("Tab");
        assert.equal(await page.evaluate("document.activeElement?.textContent"), "Send");
        await page.locator("#line").focus();
        for (const scheme of ["light", "dark"] as const) {
          await page.emulateMedia({ colorScheme: scheme });
          await page.evaluate(axe.source);
          const result = (await page.evaluate("axe.run()")) as {
            violations: { id: string; help: string }[];
          };
          assert.deepEqual(
            result.violations.map((v) => `${v.id}: ${v.help}`),
            [],
            `axe at ${width} px, ${scheme}`,
          );
        }
        await page.emulateMedia({ colorScheme: "light" });
        await page.screenshot({ path: join(out, `chat-web-${width}.png`) });
      }
      assert.ok(existsSync(join(out, "chat-web-320.png")));
      assert.ok(existsSync(join(out, "chat-web-1280.png")));
    },
  );
});
