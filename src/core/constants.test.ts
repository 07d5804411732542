import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import * as C from "./constants.ts";

const NAMES = [
  "AF_UNIX",
  "AF_INET",
  "AF_INET6",
  "SOCK_STREAM",
  "SOCK_DGRAM",
  "SOCK_RAW",
  "SOCK_SEQPACKET",
  "SHUT_RD",
  "SHUT_WR",
  "SHUT_RDWR",
  "SOL_SOCKET",
  "SO_REUSEADDR",
  "SO_KEEPALIVE",
  "SO_SNDBUF",
  "SO_RCVBUF",
  "SO_REUSEPORT",
  "SO_LINGER",
  "IPPROTO_ICMP",
  "IPPROTO_TCP",
  "IPPROTO_UDP",
  "TCP_NODELAY",
] as const;

function pythonValues(): Record<string, number> | string {
  if (process.platform !== "linux") return "the constants are Linux's values";
  const code = `import json, socket; print(json.dumps({n: getattr(socket, n) for n in ${JSON.stringify(NAMES)}}))`;
  const r = spawnSync("python3", ["-c", code], { encoding: "utf8", timeout: 10_000 });
  if (r.status !== 0 || r.error)
    return "python3 is not installed (it is the reference for the values)";
  return JSON.parse(r.stdout) as Record<string, number>;
}

describe("constants", () => {
  const python = pythonValues();

  it("have the numbers Python's socket module has", {
    skip: typeof python === "string" && python,
  }, () => {
    const table: Record<string, unknown> = { ...C };
    const ours = Object.fromEntries(NAMES.map((n) => [n, table[n]]));
    assert.deepEqual(ours, python);
  });

  it("name families and socket types for messages", () => {
    assert.equal(C.familyName(C.AF_INET6), "AF_INET6");
    assert.equal(C.familyName(99), "family 99");
    assert.equal(C.kindName(C.SOCK_SEQPACKET), "SOCK_SEQPACKET");
    assert.equal(C.kindName(99), "type 99");
  });

  it("give the largest UDP payload over IPv4", () => {
    assert.equal(C.MAX_UDP_PAYLOAD, 65535 - 8 - 20);
  });
});
