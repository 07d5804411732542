import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { tempDir } from "../helpers/net.ts";
import { ROOT, start } from "../helpers/proc.ts";

interface Measured {
  median: number | null;
  skipped?: string;
}

/** `npm run bench` in its tiny form: every part runs once, briefly, and reports numbers. */
test("the benchmark suite runs every part and writes its results", async (t) => {
  if (process.env.SOCKETKIT_NO_NATIVE === "1") {
    t.skip("the benchmarks are checked once, in the run with the native addon");
    return;
  }
  const results = join(await tempDir(t), "results.json");
  const run = start(process.execPath, ["--import", "tsx", `${ROOT}bench/run.ts`], {
    env: { BENCH_SMOKE: "1", BENCH_RESULTS: results },
  });
  t.after(run.stop);
  assert.equal(await run.exited, 0, run.stderr());
  const out = run.stdout().toString();
  for (const heading of ["round trips per second", "one-way stream", "idle connections"]) {
    assert.match(out, new RegExp(heading));
  }
  const r = JSON.parse(readFileSync(results, "utf8")) as {
    rows: Array<Measured & { scenario: string; server: string }>;
    stream: Array<Measured & { name: string }>;
    idle: Array<Measured & { name: string }>;
    chatFanout: Array<{ members: number; p99: number }>;
    chatBurst: {
      members: number;
      p99: number;
      probe: { sent: number; p99: number; refused: number; lost: number };
    } | null;
    chatRedis: { p99: number; redisBytes: number } | { skipped: string } | null;
    transfer: Array<{ tool: string; mbps: number | null }>;
    wormhole: { rows: Array<{ tool: string; mbps: number | null }> } | { skipped: string } | null;
  };
  const measured = (rows: Array<Measured & { name?: string; server?: string }>, name: string) => {
    const row = rows.find((x) => (x.server ?? x.name ?? "").startsWith(name));
    assert.ok(row, `no row for ${name}`);
    assert.ok(row.median !== null && row.median > 0, `${name}: ${JSON.stringify(row)}`);
  };
  for (const server of ["raw node:net", "socketkit Socket", "socketkit TCPServer"]) {
    measured(
      r.rows.filter((x) => x.scenario.includes("ping-pong")),
      server,
    );
  }
  for (const server of ["raw node:dgram", "socketkit Socket", "socketkit UDPServer"]) {
    measured(
      r.rows.filter((x) => x.scenario.includes("UDP")),
      server,
    );
  }
  measured(r.stream, "socketkit Socket");
  measured(r.idle, "socketkit TCPServer");
  assert.ok((r.chatFanout[0]?.p99 ?? 0) > 0);
  // Every member sends at once: every line reached every member, and the probe member, under
  // the rate limit, had its lines back and none refused.
  const burst = r.chatBurst;
  assert.ok(burst !== null && burst.members > 0 && burst.p99 > 0, JSON.stringify(burst));
  assert.ok(burst.probe.sent > 0 && burst.probe.p99 > 0, JSON.stringify(burst.probe));
  assert.equal(burst.probe.refused, 0, JSON.stringify(burst.probe));
  assert.equal(burst.probe.lost, 0, JSON.stringify(burst.probe));
  // Chat on three servers sharing a room through Redis: measured, or skipped saying how to install.
  assert.ok(r.chatRedis !== null, "the Redis part did not run");
  if ("skipped" in r.chatRedis) assert.match(r.chatRedis.skipped, /install/);
  else assert.ok(r.chatRedis.p99 > 0 && r.chatRedis.redisBytes > 0, JSON.stringify(r.chatRedis));
  const sk = r.transfer.find((x) => x.tool.startsWith("socketkit"));
  assert.ok(sk?.mbps !== null && (sk?.mbps ?? 0) > 0, JSON.stringify(r.transfer));
  // A file through a code: both programs measured, or the part skipped saying how to install.
  assert.ok(r.wormhole !== null, "the Magic Wormhole part did not run");
  if ("skipped" in r.wormhole) assert.match(r.wormhole.skipped, /install/);
  else
    for (const tool of ["socketkit", "wormhole"]) {
      const row = r.wormhole.rows.find((x) => x.tool.startsWith(tool));
      assert.ok((row?.mbps ?? 0) > 0, JSON.stringify(r.wormhole));
    }
  // A baseline that is not installed is reported with how to install it, not left out.
  for (const row of r.rows) {
    if (row.median === null) assert.match(row.skipped ?? "", /install|compiler|not/);
  }
});
