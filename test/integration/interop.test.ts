/**
 * socketkit and Python's socket module on the two ends of TCP, UDP and Unix sockets,
 * both ways round, with random binary payloads that must arrive exactly.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  AF_INET,
  AF_UNIX,
  SHUT_WR,
  SOCK_DGRAM,
  SOCK_STREAM,
  type Socket,
  socket,
} from "../../src/index.ts";
import { fileTempDir } from "../helpers/net.ts";
import { blob, example, listening, portOf, python3 } from "../helpers/proc.ts";

const skip = python3() ? false : "python3 is not installed: the interop tests need it";
const dir = fileTempDir("interop");

/** Sends everything, half-closes, and reads until end of stream. */
async function roundTrip(s: Socket, payload: Buffer): Promise<Buffer> {
  const reading = (async () => {
    const parts: Buffer[] = [];
    for (;;) {
      const chunk = await s.recv(65536);
      if (chunk.length === 0) return Buffer.concat(parts);
      parts.push(chunk);
    }
  })();
  await s.sendall(payload);
  s.shutdown(SHUT_WR);
  return reading;
}

describe("interop with Python's socket module", { skip }, () => {
  it("TCP: a Python client's 10 MB of binary comes back exact from the socketkit echo server", async () => {
    const server = example("echo-server", ["--port", "0"]);
    try {
      const where = await listening(server);
      const payload = randomBytes(10 * 1024 * 1024);
      const client = blob(["tcp-client", "127.0.0.1", portOf(where)], payload);
      assert.equal(await client.exited, 0, client.stderr());
      assert.ok(client.stdout().equals(payload), "echoed bytes differ");
    } finally {
      await server.stop();
    }
  });

  it("TCP: socketkit sends 10 MB of binary to a Python echo server and gets it back exact", async () => {
    const server = blob(["tcp-echo", "127.0.0.1", "0"]);
    try {
      const where = await listening(server);
      await using s = socket(AF_INET, SOCK_STREAM);
      await s.connect(["127.0.0.1", Number(portOf(where))]);
      const payload = randomBytes(10 * 1024 * 1024);
      assert.ok((await roundTrip(s, payload)).equals(payload), "echoed bytes differ");
    } finally {
      await server.stop();
    }
  });

  it("Unix: a Python client's 10 MB of binary comes back exact from the socketkit server", async () => {
    const path = join(dir, "ts-echo.sock");
    const server = example("unix-echo-server", [path]);
    try {
      await listening(server);
      const payload = randomBytes(10 * 1024 * 1024);
      const client = blob(["unix-client", path], payload);
      assert.equal(await client.exited, 0, client.stderr());
      assert.ok(client.stdout().equals(payload), "echoed bytes differ");
    } finally {
      await server.stop();
    }
  });

  it("Unix: socketkit sends 10 MB of binary to a Python server and gets it back exact", async () => {
    const path = join(dir, "py-echo.sock");
    const server = blob(["unix-echo", path]);
    try {
      await listening(server);
      await using s = socket(AF_UNIX, SOCK_STREAM);
      await s.connect(path);
      const payload = randomBytes(10 * 1024 * 1024);
      assert.ok((await roundTrip(s, payload)).equals(payload), "echoed bytes differ");
    } finally {
      await server.stop();
    }
  });

  it("UDP: a Python client's 65507-byte binary datagram comes back whole from socketkit", async () => {
    const server = example("udp-echo-server", ["0", "127.0.0.1"]);
    try {
      const where = await listening(server);
      const payload = randomBytes(65507);
      const client = blob(["udp-client", "127.0.0.1", portOf(where)], payload);
      assert.equal(await client.exited, 0, client.stderr());
      assert.ok(client.stdout().equals(payload), "datagram differs");
    } finally {
      await server.stop();
    }
  });

  it("UDP: socketkit's 65507-byte binary datagram comes back whole from a Python server", async () => {
    const server = blob(["udp-echo", "127.0.0.1", "0"]);
    try {
      const where = await listening(server);
      await using s = socket(AF_INET, SOCK_DGRAM);
      s.settimeout(5);
      const payload = randomBytes(65507);
      const target: [string, number] = ["127.0.0.1", Number(portOf(where))];
      assert.equal(await s.sendto(payload, target), payload.length);
      const [data, from] = await s.recvfrom(65535);
      assert.deepEqual(from, target);
      assert.ok(data.equals(payload), "datagram differs");
    } finally {
      await server.stop();
    }
  });
});
