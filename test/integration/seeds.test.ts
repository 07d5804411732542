/**
 * Every seed program against its Python original, in all four pairings
 * (Python/Python, socketkit server with the Python client, Python server with the
 * socketkit client, socketkit/socketkit): each program must print exactly what the
 * Python original prints in the same pairing (port numbers aside), and files must
 * arrive byte for byte.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { hasNative } from "../../src/native/index.ts";
import {
  example,
  listening,
  maskPorts,
  outputFrom,
  type Program,
  portOf,
  python3,
  seed,
} from "../helpers/proc.ts";

const skip = python3() ? false : "python3 is not installed: the interop tests need it";

type Impl = "py" | "ts";
interface Side {
  ts: string;
  py: string;
  args: (where: string) => string[];
  stdin?: string;
}
interface Scenario {
  name: string;
  server: Side;
  client: Side;
  /** The server ends by itself after the client (else it is stopped). */
  serverExits: boolean;
  /**
   * A server that is stopped has done all it will when its stdout says this holds (else
   * once the client has exited): the client's last connection may still be on its way.
   */
  serverDone?: (out: string) => boolean;
  /** Compare the server's stdout across pairings. */
  compareServer?: boolean;
  /** Compare the client's stdout across pairings. */
  compareClient?: boolean;
}

interface Outcome {
  server: string;
  client: string;
  clientCode: number | null;
}

function run(impl: Impl, side: Side, args: string[]): Program {
  const options = side.stdin === undefined ? {} : { stdin: side.stdin };
  return impl === "ts" ? example(side.ts, args, options) : seed(side.py, args, options);
}

async function pair(s: Scenario, serverImpl: Impl, clientImpl: Impl): Promise<Outcome> {
  const server = run(serverImpl, s.server, s.server.args(""));
  let client: Program | undefined;
  try {
    const where = await listening(server);
    client = run(clientImpl, s.client, s.client.args(where));
    const clientCode = await client.exited;
    if (s.serverExits) await server.exited;
    else {
      const done = s.serverDone;
      if (done) await outputFrom(server, (out) => done(out));
      await server.stop();
    }
    return {
      server: maskPorts(server.stdout().toString("latin1")),
      client: maskPorts(client.stdout().toString("latin1")),
      clientCode,
    };
  } finally {
    await client?.stop();
    await server.stop();
  }
}

const dir = mkdtempSync(join(tmpdir(), "socketkit-seeds-"));
const local = (where: string) => [portOf(where), "127.0.0.1"];
const any = ["0", "127.0.0.1"];

const scenarios: Scenario[] = [
  {
    name: "seed 000: two-terminal conversation on port 5000",
    server: {
      ts: "reply-server",
      py: "reply_server",
      args: () => any,
      stdin: "hi there\nfine, thanks\n",
    },
    client: {
      ts: "reply-client",
      py: "reply_client",
      args: local,
      stdin: "hello\nhow are you?\nbye\n",
    },
    serverExits: true,
    compareServer: true,
    compareClient: true,
  },
  {
    name: "seed 002: server that collects everything a client sends",
    server: { ts: "collect-server", py: "collect_server", args: () => any },
    client: { ts: "hello-world-client", py: "hello_world_client", args: local },
    serverExits: true,
    compareServer: true,
    compareClient: true,
  },
  {
    name: "seed 001: server that prints who connected",
    server: { ts: "simple-server", py: "simple_server", args: () => any },
    client: { ts: "hello-world-client", py: "hello_world_client", args: local },
    serverExits: true,
    compareServer: true,
  },
  {
    name: "seed 001: upper-casing server and its interactive client",
    server: { ts: "upper-server", py: "upper_server", args: () => any, stdin: "hola\nmuito bem\n" },
    client: {
      ts: "upper-client",
      py: "upper_client",
      args: local,
      stdin: "olá mundo\ncomo vai\nq\n",
    },
    serverExits: true,
    compareServer: true,
    compareClient: true,
  },
  {
    name: "seed 001: socketserver MyTCPHandler and its client",
    server: { ts: "handler-server", py: "handler_server", args: () => any, stdin: "olá\nbem\n" },
    client: {
      ts: "handler-client",
      py: "handler_client",
      args: local,
      stdin: "do cliente-1\ncomo vai\n",
    },
    serverExits: false,
    // The client connects once more for the end of its input and closes at once; the
    // server prints what it got, then its prompt: done once that prompt is out (the
    // " wrote:" line alone comes before the rest of its block).
    serverDone: (out) => (out.split(" wrote:")[3] ?? "").includes("enter text .. "),
    compareServer: true,
    compareClient: true,
  },
  {
    name: "seed 003: TCP server and client on port 8080",
    server: { ts: "hello-server", py: "hello_server", args: () => any },
    client: { ts: "hello-client", py: "hello_client", args: local },
    serverExits: false,
    compareServer: true,
    compareClient: true,
  },
  {
    name: "seed 003: the complete example's server on port 12345",
    server: { ts: "message-server", py: "message_server", args: () => any },
    client: { ts: "hello-client", py: "hello_client", args: local },
    serverExits: false,
    compareServer: true,
    compareClient: true,
  },
  {
    name: "seed 003: UDP datagram to port 12345",
    server: { ts: "udp-echo-server", py: "udp_echo_server", args: () => any },
    client: { ts: "udp-client", py: "udp_client", args: local },
    serverExits: false,
    compareClient: true,
  },
  {
    name: "seed 003: Unix domain stream socket",
    server: {
      ts: "unix-echo-server",
      py: "unix_echo_server",
      args: () => [join(dir, `u${Math.random()}.sock`)],
    },
    client: { ts: "unix-client", py: "unix_client", args: (where) => [where] },
    serverExits: false,
    compareClient: true,
  },
  {
    name: "seed 004: the thank-you server and its client",
    server: { ts: "thanks-server", py: "thanks_server", args: () => any },
    client: { ts: "thanks-client", py: "thanks_client", args: local },
    serverExits: false,
    compareServer: true,
    compareClient: true,
  },
];

after(() => rmSync(dir, { recursive: true, force: true }));

describe("seed programs talk to their Python originals", { skip }, () => {
  for (const s of scenarios) {
    describe(s.name, { concurrency: 1 }, () => {
      let baseline: Outcome;
      before(async () => {
        baseline = await pair(s, "py", "py");
      });

      for (const [serverImpl, clientImpl] of [
        ["ts", "py"],
        ["py", "ts"],
        ["ts", "ts"],
      ] as Array<[Impl, Impl]>) {
        it(`${serverImpl === "ts" ? "socketkit" : "Python"} server with ${clientImpl === "ts" ? "socketkit" : "Python"} client prints what Python/Python prints`, async () => {
          const got = await pair(s, serverImpl, clientImpl);
          assert.ok(
            baseline.client.length + baseline.server.length > 0,
            "the Python pair printed something",
          );
          if (s.compareServer) assert.equal(got.server, baseline.server);
          if (s.compareClient) assert.equal(got.client, baseline.client);
        });
      }
    });
  }
});

describe("seed 001 file transfer moves 10 MB of binary byte for byte", {
  skip,
  concurrency: 1,
}, () => {
  const source = join(dir, "test.bin");
  const payload = randomBytes(10 * 1024 * 1024);
  const digest = createHash("sha256").update(payload).digest("hex");
  let baselineServer = "";

  before(() => writeFileSync(source, payload));

  async function transfer(
    serverImpl: Impl,
    clientImpl: Impl,
  ): Promise<{ server: string; client: string }> {
    const target = join(dir, `recv-${serverImpl}-${clientImpl}.bin`);
    const server =
      serverImpl === "ts"
        ? example("file-server", [...any, source])
        : seed("file_server", [...any, source]);
    try {
      const where = await listening(server);
      const args = [portOf(where), "127.0.0.1", target];
      const client = clientImpl === "ts" ? example("file-client", args) : seed("file_client", args);
      assert.equal(await client.exited, 0, client.stderr());
      assert.equal(await server.exited, 0, server.stderr());
      const received = readFileSync(target);
      assert.equal(received.length, payload.length);
      assert.equal(createHash("sha256").update(received).digest("hex"), digest);
      const clientOut = client.stdout().toString();
      assert.match(clientOut, /^receiving data\.\.\.\n/);
      assert.match(clientOut, /Successfully received\nconnection closed\n$/);
      return { server: server.stdout().toString("latin1"), client: clientOut };
    } finally {
      await server.stop();
    }
  }

  it("Python server to Python client (the baseline)", async () => {
    baselineServer = (await transfer("py", "py")).server;
    assert.match(baselineServer, /File transferred\n$/);
  });
  it("socketkit server to the Python client, printing every piece as Python does", async () => {
    const { server } = await transfer("ts", "py");
    assert.equal(server, baselineServer);
  });
  it("Python server to the socketkit client", async () => {
    await transfer("py", "ts");
  });
  it("socketkit server to the socketkit client", async () => {
    const { server } = await transfer("ts", "ts");
    assert.equal(server, baselineServer);
  });
});

describe("seed 003 socket types", () => {
  it("raw and SEQPACKET sockets: the Python program's output, byte for byte, with the native addon", {
    skip: !python3()
      ? "python3 is not installed"
      : hasNative()
        ? false
        : "the native addon is absent",
  }, async () => {
    const ts = example("socket-types", []);
    const py = seed("socket_types", []);
    assert.equal(await ts.exited, 0, ts.stderr());
    assert.equal(await py.exited, 0, py.stderr());
    assert.equal(ts.stdout().toString(), py.stdout().toString());
  });

  it("raise UnsupportedError, saying how to build the addon, without it", {
    skip: hasNative() ? "the native addon is built (npm run test:no-native runs this)" : false,
  }, async () => {
    const p = example("socket-types", []);
    assert.equal(await p.exited, 0, p.stderr());
    const lines = p.stdout().toString().trim().split("\n");
    assert.equal(lines.length, 3);
    for (const line of lines)
      assert.match(line, /: UnsupportedError ERR_UNSUPPORTED: .*npm run build:native/);
  });
});
