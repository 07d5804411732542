import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseRedisUrl, redactUrl } from "./redis-connection.ts";

describe("parseRedisUrl", () => {
  it("takes redis:// and rediss:// as they are, for ioredis to read", () => {
    assert.deepEqual(parseRedisUrl("redis://127.0.0.1:6379/2"), {
      kind: "single",
      url: "redis://127.0.0.1:6379/2",
    });
    assert.equal(parseRedisUrl("rediss://:pw@example.org:6380").kind, "single");
  });

  it("reads Sentinels, the master's name, a database and credentials", () => {
    const url = "redis-sentinel://app:p%40ss@10.0.0.1,10.0.0.2:26380,[::1]:26381/mymaster/3";
    assert.deepEqual(parseRedisUrl(url), {
      kind: "sentinel",
      url,
      sentinels: [
        { host: "10.0.0.1", port: 26379 },
        { host: "10.0.0.2", port: 26380 },
        { host: "::1", port: 26381 },
      ],
      name: "mymaster",
      db: 3,
      username: "app",
      password: "p@ss",
    });
  });

  it("reads a Cluster's nodes", () => {
    const url = "redis-cluster://:secret@127.0.0.1:7000,127.0.0.1:7001,node3";
    assert.deepEqual(parseRedisUrl(url), {
      kind: "cluster",
      url,
      nodes: [
        { host: "127.0.0.1", port: 7000 },
        { host: "127.0.0.1", port: 7001 },
        { host: "node3", port: 6379 },
      ],
      password: "secret",
    });
  });

  it("refuses anything else with a one-line message", () => {
    for (const bad of [
      "127.0.0.1:6379",
      "http://127.0.0.1",
      "redis-sentinel://127.0.0.1:26379",
      "redis-sentinel://127.0.0.1:26379/mymaster/x",
      "redis-cluster://127.0.0.1:7000/1",
      "redis-cluster://127.0.0.1:99999",
      "redis-cluster://127.0.0.1:7000,,",
    ]) {
      assert.throws(
        () => parseRedisUrl(bad),
        (err: Error) =>
          err.message.startsWith("Cannot read the Redis URL") && !err.message.includes("\n"),
        bad,
      );
    }
  });

  it("hides a password from messages", () => {
    assert.equal(
      redactUrl("redis-sentinel://app:secret@10.0.0.1/mymaster"),
      "redis-sentinel://app:***@10.0.0.1/mymaster",
    );
  });
});
