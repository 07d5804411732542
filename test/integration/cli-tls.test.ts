/** TLS through the `socketkit` command: serve/listen with a throwaway certificate, connect verifying, pinning, or not. */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileTempDir } from "../helpers/net.ts";
import { listening, type Program, portOf, python3, socketkit, start } from "../helpers/proc.ts";

const dir = fileTempDir("cli-tls");

const cli = socketkit;

/** Starts `serve echo --tls-self-signed`; gives its port and certificate fingerprint. */
async function tlsEcho(): Promise<{ server: Program; port: string; fingerprint: string }> {
  const server = cli(["serve", "echo", "--tls-self-signed"]);
  const where = await listening(server);
  assert.match(server.stderr(), /\(tls\)/);
  const fingerprint = /fingerprint ([0-9A-F:]+)/.exec(server.stderr())?.[1] ?? "";
  assert.equal(fingerprint.split(":").length, 32, "a SHA-256 fingerprint is printed");
  return { server, port: portOf(where), fingerprint };
}

describe("socketkit over TLS", () => {
  it("connect --fingerprint talks to serve --tls-self-signed, 256 KB of binary exact", async () => {
    const { server, port, fingerprint } = await tlsEcho();
    try {
      const payload = randomBytes(256 * 1024);
      const p = cli(["connect", "--fingerprint", fingerprint, "127.0.0.1", port], payload);
      assert.equal(await p.exited, 0, p.stderr());
      assert.ok(p.stdout().equals(payload));
    } finally {
      await server.stop();
    }
  });

  it("connect --tls verifies the certificate and refuses a self-signed one in one line", async () => {
    const { server, port } = await tlsEcho();
    try {
      const p = cli(["connect", "--tls", "127.0.0.1", port], "x");
      assert.equal(await p.exited, 1);
      assert.match(
        p.stderr(),
        /^socketkit: Cannot connect to 127\.0\.0\.1:\d+: the certificate is self-signed/,
      );
      const insecure = cli(["connect", "--tls-insecure", "127.0.0.1", port], "accepted anyway");
      assert.equal(await insecure.exited, 0, insecure.stderr());
      assert.equal(insecure.stdout().toString(), "accepted anyway");
    } finally {
      await server.stop();
    }
  });

  it("connect refuses a certificate that is not the pinned one", async () => {
    const { server, port } = await tlsEcho();
    try {
      const p = cli(["connect", "--fingerprint", "AA:BB", "127.0.0.1", port], "x");
      assert.equal(await p.exited, 1);
      assert.match(p.stderr(), /is not the pinned AA:BB/);
    } finally {
      await server.stop();
    }
  });

  it("listen --tls-self-signed --send serves a file to Python's ssl module, byte for byte", {
    skip: python3() ? false : "python3 is not installed",
  }, async () => {
    const source = join(dir, "file.bin");
    const payload = randomBytes(1024 * 1024);
    writeFileSync(source, payload);
    const server = cli(["listen", "0", "--tls-self-signed", "--send", source]);
    try {
      const port = portOf(await listening(server));
      const client = start(python3() as string, [
        "-c",
        `import socket, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with ctx.wrap_socket(socket.create_connection(("127.0.0.1", ${port}))) as s:
    s.sendall(b"Hello server!")
    out = sys.stdout.buffer
    while True:
        d = s.recv(65536)
        if not d:
            break
        out.write(d)`,
      ]);
      assert.equal(await client.exited, 0, client.stderr());
      assert.ok(client.stdout().equals(payload));
    } finally {
      await server.stop();
    }
  });

  it("refuses --tls with --udp as a usage error", async () => {
    const p = cli(["serve", "echo", "--udp", "--tls-self-signed"]);
    assert.equal(await p.exited, 2);
    assert.match(p.stderr(), /TLS needs a stream/);
  });
});
