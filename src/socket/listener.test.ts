import assert from "node:assert/strict";
import { connect } from "node:net";
import { describe, it } from "node:test";
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
