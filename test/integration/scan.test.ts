/**
 * `socketkit scan` against listeners the test opens and closes on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import { parsePorts, scan, serviceName } from "../../src/apps/scan.ts";
import { ArgumentError } from "../../src/core/errors.ts";
import { closedPort } from "../helpers/net.ts";
import { ROOT, socketkit, start } from "../helpers/proc.ts";

const ownNetns =
  spawnSync("unshare", ["-n", "true"]).status === 0
    ? false
    : "cannot make a network namespace here (unshare -n needs root)";

const T = { timeout: 60_000 };

async function tcpListener(t: import("node:test").TestContext): Promise<number> {
  const server = createServer((s) => s.destroy());
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => server.close());
  return (server.address() as { port: number }).port;
}

describe("parsePorts", () => {
  it("takes single ports, ranges and lists, each port once, sorted", () => {
    assert.deepEqual(parsePorts("22"), [22]);
    assert.deepEqual(
      parsePorts("80,443,8000-8003,81-82,443"),
      [80, 81, 82, 443, 8000, 8001, 8002, 8003],
    );
    assert.equal(parsePorts("1-65535").length, 65535);
    for (const bad of ["0", "65536", "10-5", "a", "1,,2", "-5", "22-"]) {
      assert.throws(
        () => parsePorts(bad),
        (err: unknown) => err instanceof ArgumentError && err.code === "ERR_INVALID_ARGUMENT",
        bad,
      );
    }
  });

  it("merges ranges that repeat or overlap, in time bounded by the list's length", () => {
    assert.deepEqual(parsePorts("5-9,1-3,2-6,8,20-21,21"), [1, 2, 3, 4, 5, 6, 7, 8, 9, 20, 21]);
    const started = performance.now();
    const ports = parsePorts(Array(10_000).fill("1-65535").join(","));
    const ms = performance.now() - started;
    assert.equal(ports.length, 65535);
    assert.equal(ports[65534], 65535);
    // Listing every range's ports one by one took about 15 s here; merged, about 12 ms.
    assert.ok(ms < 2000, `${ms} ms`);
  });

  it("quotes the list and the bad part in one line, their control characters escaped", () => {
    assert.throws(
      () => parsePorts(`${"1-65535,".repeat(1000)}\u001b[2J\n\u202e`),
      (err: unknown) => {
        assert.ok(err instanceof ArgumentError);
        assert.match(err.message, /^Cannot scan ports "1-65535,1-65535,.{0,90}\.\.\.": /);
        assert.ok(
          err.message.endsWith('"\\u001b[2J\\n\\u202e" is not a port or range within 1-65535'),
        );
        assert.ok(err.message.length < 300, "the list is cut short");
        return true;
      },
    );
  });

  it("names well-known services from /etc/services", () => {
    if (existsSync("/etc/services")) assert.equal(serviceName(22, "tcp"), "ssh");
    assert.equal(serviceName(39999, "tcp"), null);
  });
});

describe("scan", () => {
  it("reports listeners open and closed ports closed", T, async (t) => {
    const open1 = await tcpListener(t);
    const open2 = await tcpListener(t);
    const closed = await closedPort();
    const results = await scan(
      "127.0.0.1",
      [open1, open2, closed].sort((a, b) => a - b),
    );
    const byPort = new Map(results.map((r) => [r.port, r.state]));
    assert.equal(byPort.get(open1), "open");
    assert.equal(byPort.get(open2), "open");
    assert.equal(byPort.get(closed), "closed");
  });

  it("UDP: open when something answers, closed when the host says unreachable", T, async (t) => {
    const echo = createSocket("udp4");
    echo.on("message", (m, r) => echo.send(m, r.port, r.address));
    echo.bind(0, "127.0.0.1");
    await once(echo, "listening");
    t.after(() => echo.close());
    const port = echo.address().port;
    const closed = await closedPort();
    const results = await scan("127.0.0.1", [port, closed], { udp: true, timeout: 2 });
    const byPort = new Map(results.map((r) => [r.port, r.state]));
    assert.equal(byPort.get(port), "open");
    // Linux answers a closed UDP port with ICMP port unreachable; without it the only
    // honest answer is open|filtered.
    assert.ok(["closed", "open|filtered"].includes(byPort.get(closed) as string));
  });

  // Every port of 127.0.0.1 would include other tests' listeners (a connect counts as their
  // client): the full sweep runs in a network namespace of its own, where nothing listens.
  it("as a command: all 65535 ports of 127.0.0.1 in seconds, with --json", {
    timeout: 120_000,
    skip: ownNetns,
  }, async (t) => {
    const command = `ip link set lo up && exec ${process.execPath} --import tsx ${ROOT}src/cli/main.ts scan 127.0.0.1 1-65535 --json`;
    const p = start("unshare", ["-n", "sh", "-c", command]);
    assert.equal(await p.exited, 0, p.stderr());
    const report = JSON.parse(p.stdout().toString()) as {
      seconds: number;
      counts: Record<string, number>;
      ports: Array<{ port: number; state: string }>;
    };
    assert.deepEqual(report.ports, [], "only open ports are listed: none");
    assert.deepEqual(report.counts, { closed: 65535 }, "a fresh namespace: every port closed");
    assert.ok(report.seconds < 60, `${report.seconds} s`);
    t.diagnostic(`1-65535 scanned in ${report.seconds} s`);
  });

  it(
    "as a command: a table of open ports and a summary, and a one-line error for bad ports",
    T,
    async (t) => {
      const open = await tcpListener(t);
      const closed = await closedPort();
      const p = socketkit(["scan", "127.0.0.1", `${open},${closed}`]);
      assert.equal(await p.exited, 0, p.stderr());
      assert.match(
        p.stdout().toString(),
        new RegExp(`^PORT +STATE +SERVICE\\n${open}/tcp +open *\\n`),
      );
      assert.match(
        p.stdout().toString(),
        /scanned 2 tcp ports of 127\.0\.0\.1 in [\d.]+ s: (1 open, 1 closed|1 closed, 1 open)\n$/,
      );
      const bad = socketkit(["scan", "127.0.0.1", "70000"]);
      assert.equal(await bad.exited, 2);
      assert.match(bad.stderr(), /"70000" is not a port or range within 1-65535/);
    },
  );
});
