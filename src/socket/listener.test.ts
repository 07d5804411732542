import assert from "node:assert/strict";
import { connect, type Socket as NetSocket } from "node:net";
import { describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { until } from "../../test/helpers/net.ts";
import { serverTls } from "../apps/tls-setup.ts";
import { Listener } from "./listener.ts";

describe("Listener", () => {
  it("keeps at most queueLimit connections waiting, closes the rest at once and counts them", async () => {
    const listener = await Listener.open({ host: "127.0.0.1", port: 0 }, "test");
    try {
      listener.queueLimit = 2;
      const { port } = listener.server.address() as { port: number };
      const clients = Array.from({ length: 5 }, () => connect({ host: "127.0.0.1", port }));
      const closed = clients.map((c) => new Promise<boolean>((r) => c.on("close", () => r(true))));
      for (const c of clients) c.on("error", () => {});
      await until(() => listener.dropped === 3, "3 connections dropped");
      assert.equal(listener.dropped, 3);
      const waiting = [listener.take(), listener.take(), listener.take()];
      assert.ok(waiting[0] && waiting[1]);
      assert.equal(waiting[2], undefined);
      for (const s of waiting) s?.destroy();
      for (const c of clients) c.destroy();
      await Promise.all(closed);
    } finally {
      await listener.close();
    }
  });

  it("cuts a TLS peer that never finishes its handshake", { timeout: 20_000 }, async () => {
    const { options } = await serverTls({ selfSigned: true });
    const listener = await Listener.open({ host: "127.0.0.1", port: 0 }, "test", {
      ...options,
      handshakeTimeout: 200,
    });
    try {
      const { port } = listener.server.address() as { port: number };
      const silent = connect({ host: "127.0.0.1", port });
      silent.on("error", () => {});
      const opened = performance.now();
      await new Promise((r) => silent.on("close", r));
      assert.ok(performance.now() - opened >= 150, "not before the handshake timeout");
      assert.equal(listener.take(), undefined);
    } finally {
      await listener.close();
    }
  });

  it("closes a peer that admit refuses as it connects, before a TLS handshake", {
    timeout: 20_000,
  }, async () => {
    const { options } = await serverTls({ selfSigned: true });
    let allow = false;
    const asked: number[] = [];
    const listener = await Listener.open({ host: "127.0.0.1", port: 0 }, "test", options, (s) => {
      asked.push(s.remotePort ?? 0);
      return allow;
    });
    try {
      const { port } = listener.server.address() as { port: number };
      const clients: NetSocket[] = [];
      const handshake = (): Promise<{ outcome: string; from: number }> => {
        const c = tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false });
        clients.push(c);
        let from = 0;
        c.on("connect", () => {
          from = c.localPort ?? 0;
        });
        return new Promise((resolve) => {
          c.on("secureConnect", () => resolve({ outcome: "handshake", from }));
          c.on("error", (e: NodeJS.ErrnoException) =>
            resolve({ outcome: e.code ?? "error", from }),
          );
          c.on("close", () => resolve({ outcome: "closed", from }));
        });
      };
      const refused = await handshake();
      assert.notEqual(refused.outcome, "handshake", "a refused peer gets no handshake");
      assert.equal(listener.refused, 1);
      assert.deepEqual(asked, [refused.from], "admit saw the peer's connection");
      assert.equal(listener.take(), undefined);
      allow = true;
      const admitted = await handshake();
      assert.equal(admitted.outcome, "handshake");
      let waiting: NetSocket | undefined;
      await until(() => {
        waiting = listener.take();
        return waiting !== undefined;
      }, "the admitted peer waits for accept()");
      assert.equal(waiting?.remotePort, admitted.from);
      for (const c of clients) c.destroy();
      waiting?.destroy();
      assert.equal(listener.refused, 1);
    } finally {
      await listener.close();
    }
  });

  it("reports a server error once, then clears it", async () => {
    const listener = await Listener.open({ host: "127.0.0.1", port: 0 }, "test");
    try {
      listener.server.emit(
        "error",
        Object.assign(new Error("too many open files"), { code: "EMFILE" }),
      );
      assert.equal(listener.takeError("accept on")?.code, "EMFILE");
      assert.equal(listener.takeError("accept on"), null);
    } finally {
      await listener.close();
    }
  });
});
