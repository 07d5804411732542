import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BaseRequestHandler } from "./base-request-handler.ts";
import type { BaseServer } from "./base-server.ts";

const fakeServer = {} as BaseServer<string>;

function recorder(failIn?: "setup" | "handle" | "finish") {
  const calls: string[] = [];
  class Recorder extends BaseRequestHandler<string> {
    override async setup(): Promise<void> {
      calls.push("setup");
      if (failIn === "setup") throw new Error("setup failed");
    }
    override async handle(): Promise<void> {
      calls.push(`handle ${this.request} from ${String(this.clientAddress)}`);
      if (failIn === "handle") throw new Error("handle failed");
    }
    override async finish(): Promise<void> {
      calls.push("finish");
      if (failIn === "finish") throw new Error("finish failed");
    }
  }
  return { calls, handler: new Recorder("req", ["127.0.0.1", 1], fakeServer) };
}

describe("BaseRequestHandler.run", () => {
  it("runs setup, handle, finish in order with request, clientAddress and server set", async () => {
    const { calls, handler } = recorder();
    assert.equal(handler.server, fakeServer);
    await handler.run();
    assert.deepEqual(calls, ["setup", "handle req from 127.0.0.1,1", "finish"]);
  });

  it("runs finish even when handle throws, and passes the error on", async () => {
    const { calls, handler } = recorder("handle");
    await assert.rejects(handler.run(), /handle failed/);
    assert.deepEqual(calls, ["setup", "handle req from 127.0.0.1,1", "finish"]);
  });

  it("does not run handle or finish when setup throws, as in Python", async () => {
    const { calls, handler } = recorder("setup");
    await assert.rejects(handler.run(), /setup failed/);
    assert.deepEqual(calls, ["setup"]);
  });
});
