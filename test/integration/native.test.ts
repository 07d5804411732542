/**
 * The socket types that need the native addon: Unix datagram and SOCK_SEQPACKET sockets
 * (socketkit to socketkit, and to python3's socket module), abstract names, raw ICMP, and
 * ping's fallback chain. Skipped, with the reason, when the addon is absent; the suite
 * also runs with SOCKETKIT_NO_NATIVE=1 (`npm run test:no-native`), where the fallbacks
 * are what is tested.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ping } from "../../src/apps/ping.ts";
import {
  AddressInUseError,
  AF_INET,
  AF_INET6,
  AF_UNIX,
  createConnection,
  hasNative,
  IPPROTO_ICMP,
  PermissionError,
  SO_REUSEPORT,
  SOCK_DGRAM,
  SOCK_RAW,
  SOCK_SEQPACKET,
  SOCK_STREAM,
  SOL_SOCKET,
  socket,
  UnsupportedError,
} from "../../src/index.ts";
import { native, nativeMissingReason } from "../../src/native/index.ts";
import { ipv6LoopbackWorks, tempDir } from "../helpers/net.ts";
import { listening, outputFrom, portOf, python3, ROOT, socketkit, start } from "../helpers/proc.ts";

const T = { timeout: 30_000 };
const noAddon = hasNative() ? false : `the native addon is absent (${nativeMissingReason()})`;
const noPython = python3() ? false : "python3 is not installed";
const noIpv6 = (await ipv6LoopbackWorks()) ? false : "::1 cannot be bound here (no IPv6 loopback)";

/** A python3 program with a socket of `kind` on `address`, echoing upper-cased messages. */
function pythonEcho(kind: "SOCK_DGRAM" | "SOCK_SEQPACKET", address: string) {
  return start(python3() as string, [
    "-c",
    `import socket, sys
addr = ${JSON.stringify(address)}.encode("latin-1").decode("unicode_escape")
s = socket.socket(socket.AF_UNIX, socket.${kind})
s.bind(addr)
if socket.${kind} == socket.SOCK_SEQPACKET:
    s.listen(1)
    print("ready", flush=True)
    c, _ = s.accept()
    while True:
        m = c.recv(65536)
        if not m:
            break
        c.send(m.upper())
else:
    print("ready", flush=True)
    for _ in range(3):
        m, peer = s.recvfrom(65536)
        s.sendto(m.upper(), peer)
`,
  ]);
}

describe("Unix datagram sockets", { skip: noAddon }, () => {
  it("keep each datagram whole, socketkit to socketkit, paths and abstract names", T, async (t) => {
    const dir = await tempDir(t);
    await using a = socket(AF_UNIX, SOCK_DGRAM);
    await using b = socket(AF_UNIX, SOCK_DGRAM);
    await a.bind(join(dir, "a.sock"));
    const abstract = `\0socketkit-test-${process.pid}-${Date.now()}`;
    await b.bind(abstract);
    assert.equal(b.getsockname(), abstract, "the abstract name exactly, NUL included");
    const big = randomBytes(60_000);
    await b.sendto("first", join(dir, "a.sock"));
    await b.sendto(big, join(dir, "a.sock"));
    const [one, from] = await a.recvfrom(100);
    assert.equal(one.toString(), "first");
    assert.equal(from, abstract);
    assert.ok((await a.recvfrom(65536))[0].equals(big), "a 60,000-byte datagram arrives whole");
    await a.sendto("back", abstract);
    assert.equal((await b.recv(100)).toString(), "back");
    await b.sendto("cut me", join(dir, "a.sock"));
    assert.equal((await a.recv(3)).toString(), "cut", "recv(n) cuts a datagram, as Python's does");
    // connect, then send and recv without addresses.
    await using c = socket(AF_UNIX, SOCK_DGRAM);
    await c.bind(join(dir, "c.sock"));
    await c.connect(join(dir, "a.sock"));
    assert.equal(c.getpeername(), join(dir, "a.sock"));
    await c.send("connected");
    const [msg, sender] = await a.recvfrom(100);
    assert.equal(msg.toString(), "connected");
    await a.sendto("reply", sender as string);
    assert.equal((await c.recv(100)).toString(), "reply");
  });

  it("talk to python3's socket module, at a path and at an abstract name", {
    ...T,
    skip: noPython,
  }, async (t) => {
    const dir = await tempDir(t);
    for (const name of [join(dir, "py.sock"), `\\x00socketkit-py-${process.pid}`]) {
      const py = pythonEcho("SOCK_DGRAM", name);
      t.after(() => py.stop());
      await outputFrom(py, (out) => out.includes("ready"));
      const address = name.replace("\\x00", "\0");
      await using c = socket(AF_UNIX, SOCK_DGRAM);
      c.settimeout(5);
      await c.bind(join(dir, `client-${name.length}.sock`));
      for (const word of ["alpha", "beta", "gamma"]) {
        await c.sendto(word, address);
        const [reply, from] = await c.recvfrom(100);
        assert.equal(reply.toString(), word.toUpperCase());
        assert.equal(from, address);
      }
      assert.equal(await py.exited, 0, py.stderr());
    }
  });
});

describe("SOCK_SEQPACKET sockets", { skip: noAddon }, () => {
  it(
    "keep message boundaries, with listen/accept/connect, socketkit to socketkit",
    T,
    async (t) => {
      const dir = await tempDir(t);
      await using server = socket(AF_UNIX, SOCK_SEQPACKET);
      await server.bind(join(dir, "seq.sock"));
      server.listen(5);
      const accepted = server.accept();
      await using client = socket(AF_UNIX, SOCK_SEQPACKET);
      await client.connect(join(dir, "seq.sock"));
      const [conn] = await accepted;
      await using _conn = conn;
      for (const m of ["one", "two", "three"]) await client.send(m);
      const got = [await conn.recv(100), await conn.recv(100), await conn.recv(100)].map(String);
      assert.deepEqual(
        got,
        ["one", "two", "three"],
        "three sends, three messages: not one byte stream",
      );
      await client.close();
      assert.equal((await conn.recv(100)).length, 0, "the peer's close reads as an empty message");
    },
  );

  it("talk to python3's socket module", { ...T, skip: noPython }, async (t) => {
    const dir = await tempDir(t);
    const py = pythonEcho("SOCK_SEQPACKET", join(dir, "pyseq.sock"));
    t.after(() => py.stop());
    await outputFrom(py, (out) => out.includes("ready"));
    await using c = socket(AF_UNIX, SOCK_SEQPACKET);
    c.settimeout(5);
    await c.connect(join(dir, "pyseq.sock"));
    await c.send("first message");
    await c.send("second");
    assert.equal((await c.recv(100)).toString(), "FIRST MESSAGE");
    assert.equal((await c.recv(100)).toString(), "SECOND");
    await c.close();
    assert.equal(await py.exited, 0, py.stderr());
  });
});

describe("SO_REUSEPORT", { skip: noAddon }, () => {
  it(
    "lets two processes listen on one TCP port, and the kernel spreads the connections",
    T,
    async (t) => {
      const first = start(process.execPath, [
        "--import",
        "tsx",
        `${ROOT}test/fixtures/reuseport-server.ts`,
        "0",
      ]);
      t.after(() => first.stop());
      const port = portOf(await listening(first));
      const second = start(process.execPath, [
        "--import",
        "tsx",
        `${ROOT}test/fixtures/reuseport-server.ts`,
        port,
      ]);
      t.after(() => second.stop());
      await listening(second);
      await using plain = socket(AF_INET, SOCK_STREAM);
      await assert.rejects(
        plain.bind(["127.0.0.1", Number(port)]),
        AddressInUseError,
        "without SO_REUSEPORT: in use",
      );
      const pids = new Set<string>();
      for (let i = 0; i < 64 && pids.size < 2; i++) {
        await using c = await createConnection(["127.0.0.1", Number(port)]);
        pids.add((await c.recv(32)).toString());
      }
      assert.deepEqual(
        [...pids].sort(),
        [String(first.child.pid), String(second.child.pid)].sort(),
      );
    },
  );
});

describe("SO_REUSEPORT on UDP", { skip: noAddon }, () => {
  it("lets UDP sockets from socket() share a port, and not without it", T, async () => {
    await using a = socket(AF_INET, SOCK_DGRAM);
    await using b = socket(AF_INET, SOCK_DGRAM);
    a.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
    b.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
    assert.equal(a.getsockopt(SOL_SOCKET, SO_REUSEPORT), 1);
    await a.bind(["127.0.0.1", 0]);
    const port = (a.getsockname() as [string, number])[1];
    await b.bind(["127.0.0.1", port]);
    assert.equal((b.getsockname() as [string, number])[1], port);
    await using c = socket(AF_INET, SOCK_DGRAM);
    await assert.rejects(c.bind(["127.0.0.1", port]), AddressInUseError);
    // Datagrams to the port reach one of the two, and replies go back.
    await using sender = socket(AF_INET, SOCK_DGRAM);
    await sender.sendto("to the shared port", ["127.0.0.1", port]);
    a.settimeout(2);
    b.settimeout(2);
    const [got, from] = await Promise.any([a.recvfrom(100), b.recvfrom(100)]);
    assert.equal(got.toString(), "to the shared port");
    assert.deepEqual(from, ["127.0.0.1", (sender.getsockname() as [string, number])[1]]);
    await assert.rejects(async () => {
      const late = socket(AF_INET, SOCK_DGRAM);
      await late.bind(["127.0.0.1", 0]);
      try {
        late.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
      } finally {
        await late.close();
      }
    }, /set it before bind/);
  });
});

describe("the addon's addresses", { skip: noAddon }, () => {
  it("refuses a port outside 0-65535 or not an integer with EINVAL, never cuts it to 16 bits", () => {
    const addon = native("test");
    const fd = addon.socket(AF_INET, SOCK_DGRAM, 0);
    try {
      for (const port of [70000, -1, 1.5, 65536]) {
        assert.throws(
          () => addon.bind(fd, { family: "inet", host: "127.0.0.1", port }),
          (err: { code?: string }) => err.code === "EINVAL",
          `port ${port}`,
        );
      }
      assert.deepEqual(addon.getsockname(fd, false), { family: "inet", host: "0.0.0.0", port: 0 });
    } finally {
      addon.close(fd);
    }
  });

  it("gives an IPv6 address's flowinfo and scope id, for Python's 4-tuple", {
    skip: noIpv6,
  }, () => {
    const addon = native("test");
    const fd = addon.socket(AF_INET6, SOCK_DGRAM, 0);
    try {
      addon.bind(fd, { family: "inet6", host: "::1", port: 0, flowinfo: 0, scopeId: 0 });
      const name = addon.getsockname(fd, false);
      assert.equal(name.family, "inet6");
      assert.deepEqual(name.family === "inet6" ? [name.host, name.flowinfo, name.scopeId] : null, [
        "::1",
        0,
        0,
      ]);
    } finally {
      addon.close(fd);
    }
  });
});

describe("ICMP", () => {
  it("echo to 127.0.0.1 through a raw socket, as root", {
    ...T,
    skip:
      noAddon ||
      (process.getuid?.() === 0 ? false : "not root: raw sockets need root or CAP_NET_RAW"),
  }, async () => {
    let s: ReturnType<typeof socket>;
    try {
      s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    } catch (err) {
      if (err instanceof PermissionError) return; // a root without CAP_NET_RAW (a container)
      throw err;
    }
    await s.close();
    const summary = await ping("127.0.0.1", { count: 3, interval: 0.05 });
    assert.ok(summary.method === "icmp" || summary.method === "raw");
    assert.equal(summary.received, 3);
    assert.ok((summary.min as number) >= 0 && (summary.max as number) < 1000);
  });

  it("a raw socket without privilege is a PermissionError that says why and what ping does", {
    skip: noAddon || (process.getuid?.() !== 0 ? false : "root may open raw sockets"),
  }, () => {
    assert.throws(
      () => socket(AF_INET, SOCK_RAW, IPPROTO_ICMP),
      /raw sockets need root or CAP_NET_RAW; `socketkit ping` falls back/,
    );
  });
});

describe("without the native addon", () => {
  it("the types that need it raise UnsupportedError with the reason and the fix", {
    skip: noAddon === false ? "the addon is built (run npm run test:no-native)" : false,
  }, () => {
    for (const [family, type] of [
      [AF_UNIX, SOCK_DGRAM],
      [AF_UNIX, SOCK_SEQPACKET],
      [AF_INET, SOCK_RAW],
    ] as const) {
      assert.throws(
        () => socket(family, type),
        (err: Error) => {
          assert.ok(err instanceof UnsupportedError);
          assert.match(err.message, /npm run build:native/);
          return true;
        },
      );
    }
  });
});

const ownNetns =
  spawnSync("unshare", ["-n", "true"]).status === 0
    ? false
    : "cannot make a network namespace here (unshare -n needs root)";

describe("socketkit ping", () => {
  it("uses an unprivileged ping socket where ping_group_range allows it (in a namespace of its own)", {
    ...T,
    skip: noAddon || ownNetns,
  }, async () => {
    const command = `ip link set lo up && echo "0 2147483647" > /proc/sys/net/ipv4/ping_group_range && exec ${process.execPath} --import tsx ${ROOT}src/cli/main.ts ping 127.0.0.1 --count 2 --interval 0.05`;
    const p = start("unshare", ["-n", "sh", "-c", command]);
    assert.equal(await p.exited, 0, p.stderr());
    const out = p.stdout().toString();
    assert.match(
      out,
      /ICMP echo through a ping socket\n64 bytes from 127\.0\.0\.1: icmp_seq=1 time=/,
    );
    assert.match(out, /2 packets transmitted, 2 received, 0% packet loss/);
  });

  it("falls back to TCP connects when ICMP is not possible, and says so", T, async () => {
    const p = socketkit(["ping", "127.0.0.1", "--count", "2", "--interval", "0.05"], null, {
      SOCKETKIT_NO_NATIVE: "1",
    });
    assert.equal(await p.exited, 0, p.stderr());
    const out = p.stdout().toString();
    assert.match(
      out,
      /^PING 127\.0\.0\.1 \(127\.0\.0\.1\): TCP connects to port 80 \(ICMP not possible: /,
    );
    assert.match(out, /seq=1 (refused|connected) time=[\d.]+ ms\n/);
    assert.match(out, /2 packets transmitted, 2 received, 0% packet loss/);
    assert.match(out, /rtt min\/avg\/max\/mdev = [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ ms\n$/);
  });

  it("--tcp PORT times connects to a listener", T, async (t) => {
    const { createServer } = await import("node:net");
    const server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    t.after(() => server.close());
    const port = (server.address() as { port: number }).port;
    const p = socketkit([
      "ping",
      "127.0.0.1",
      "--tcp",
      String(port),
      "--count",
      "2",
      "--interval",
      "0.05",
    ]);
    assert.equal(await p.exited, 0, p.stderr());
    assert.match(p.stdout().toString(), new RegExp(`TCP connects to port ${port}\\n`));
    assert.match(p.stdout().toString(), /seq=2 connected time=/);
  });

  it("uses ICMP when it can", {
    ...T,
    skip: noAddon || (process.getuid?.() === 0 ? false : "not root"),
  }, async () => {
    const ok = socketkit(["ping", "127.0.0.1", "--count", "2", "--interval", "0.05"]);
    assert.equal(await ok.exited, 0, ok.stderr());
    assert.match(
      ok.stdout().toString(),
      /ICMP echo through a (ping|raw) socket\n64 bytes from 127\.0\.0\.1: icmp_seq=1/,
    );
  });
});
