/**
 * socketkit's benchmark suite. Every scenario runs against socketkit and, in the same
 * run, against the baselines a user would pick instead; each is measured several times
 * and the median reported, with the ratio socketkit / baseline. Results also go to
 * bench/results.json.
 *
 *   npm run bench                 # defaults: 5 runs of 2 s per server
 *   BENCH_RUNS=3 BENCH_SECONDS=1 npm run bench
 *   BENCH_CLIENT=node npm run bench   # ping-pong with socketkit's Node.js client, not the C one
 */

import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { type BurstResult, chatBurst, describeBurst } from "./chat-burst.ts";
import { chatFanout, type FanoutResult } from "./chat-fanout.ts";
import { chatOnRedis, describeCpu, type SpreadResult } from "./chat-redis.ts";
import { SETTINGS } from "./lib.ts";
import { pingpongBench, printPingpong } from "./pingpong.ts";
import { idleBench, printRows, type SimpleRow, streamBench } from "./stream-idle.ts";
import { printTransfer, transferBench } from "./transfer.ts";
import { printSmallFiles, smallFilesBench, socketkitFailed } from "./transfer-small.ts";
import { printWormhole, type WormholeResult, wormholeBench } from "./wormhole.ts";

const RUNS = SETTINGS.runs;
const SECONDS = SETTINGS.seconds;
/**
 * BENCH_ONLY=pingpong,udp,stream,idle,fanout,burst,redis,transfer,small,wormhole runs only
 * those parts (all by default).
 */
const ONLY = new Set(
  (
    process.env.BENCH_ONLY ?? "pingpong,udp,stream,idle,fanout,burst,redis,transfer,small,wormhole"
  ).split(","),
);

// The echo scenarios: TCP ping-pong and UDP echo, with the C epoll client as generator.
const echo = await pingpongBench({ pingpong: ONLY.has("pingpong"), udp: ONLY.has("udp") });
printPingpong(echo);
const all = echo.scenarios.flatMap((s) => s.rows);

// A one-way stream into a reading server, and idle connections' memory.
let stream: SimpleRow[] = [];
if (ONLY.has("stream")) {
  process.stderr.write("running: one-way stream\n");
  stream = await streamBench();
  printRows("one-way stream, MB/s (ratio to raw node:net; target >= 1.0)", "MB/s", stream);
}
let idle: SimpleRow[] = [];
if (ONLY.has("idle")) {
  process.stderr.write("running: idle connections\n");
  idle = await idleBench();
  printRows(
    "idle connections, server RSS growth per connection in bytes (ratio to raw node:net; target <= 1.1)",
    "B",
    idle,
  );
}

// Chat fan-out: one message to every member of a big room.
const fanout: FanoutResult[] = [];
for (const members of ONLY.has("fanout") ? SETTINGS.fanoutMembers : []) {
  process.stderr.write(`running: chat fan-out, ${members} members\n`);
  fanout.push(await chatFanout(members));
}
if (fanout.length > 0) {
  console.log(
    "\nchat fan-out: from one send until the last member has it (target: p99 < 100 ms at 5,000)\n",
  );
}
if (fanout.length > 0)
  console.log(
    `${"members".padStart(8)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"max ms".padStart(8)} ${"server KiB per idle member".padStart(28)}`,
  );
for (const f of fanout) {
  console.log(
    `${String(f.members).padStart(8)} ${f.p50.toFixed(1).padStart(8)} ${f.p99.toFixed(1).padStart(8)} ${f.max.toFixed(1).padStart(8)} ${(f.bytesPerMember / 1024).toFixed(1).padStart(28)}`,
  );
}

// Chat burst: every member of a room sends one line at once.
let burst: BurstResult | null = null;
if (ONLY.has("burst")) {
  const members = SETTINGS.burstMembers;
  process.stderr.write(`running: chat burst, ${members} members\n`);
  burst = await chatBurst(members);
  console.log(
    "\nchat burst: every member sends one line at once, each timed until the last member has it (target: p99 < 1 s at 1,000)\n",
  );
  console.log(`  ${describeBurst(burst)}`);
}

// Chat on many servers: the members of one room over 3 `chat serve --redis` processes.
let chatRedis: SpreadResult | { skipped: string } | null = null;
if (ONLY.has("redis")) {
  const members = SETTINGS.redisMembers;
  process.stderr.write(`running: chat on 3 servers on Redis, ${members} members\n`);
  const missing = spawnSync("redis-server", ["--version"]).error;
  chatRedis =
    missing === undefined
      ? await chatOnRedis(members, 3)
      : { skipped: "redis-server is not installed (apt-get install -y redis-server)" };
  console.log(
    `\nchat on 3 servers on Redis, ${members} members: from one send until the last member on every server has it (target: p99 < 250 ms at 30,000)\n`,
  );
  if ("skipped" in chatRedis) console.log(`  skipped: ${chatRedis.skipped}`);
  else {
    const kib = chatRedis.bytesPerMember.map((b) => (b / 1024).toFixed(1)).join(" / ");
    console.log(
      `  p50 ${chatRedis.p50.toFixed(1)} ms, p99 ${chatRedis.p99.toFixed(1)} ms, max ${chatRedis.max.toFixed(1)} ms; server KiB per idle member ${kib}; Redis ${(chatRedis.redisBytes / 1048576).toFixed(1)} MiB`,
    );
    console.log(`  ${describeCpu(chatRedis.cpu)}`);
  }
}

// File transfer: 1 GiB over loopback against nc, socat and a raw node:net pipe.
const transfer = ONLY.has("transfer") ? await transferBench() : [];
if (transfer.length > 0) printTransfer(transfer);

// Small files: a folder of 10,000 files of 1 KiB against tar piped through nc and socat.
if (ONLY.has("small")) process.stderr.write("running: small files\n");
const smallFiles = ONLY.has("small") ? await smallFilesBench() : [];
if (smallFiles.length > 0) printSmallFiles(smallFiles);
// A socketkit run that lost or changed a file (or hung) fails the suite, not just its row.
if (socketkitFailed(smallFiles)) process.exitCode = 1;

// A file through a Magic Wormhole code: socketkit against the wormhole program.
let wormhole: WormholeResult | { skipped: string } | null = null;
if (ONLY.has("wormhole")) {
  process.stderr.write("running: Magic Wormhole\n");
  wormhole = await wormholeBench();
  printWormhole(wormhole);
}

mkdirSync(dirname(SETTINGS.resultsFile), { recursive: true });
writeFileSync(
  SETTINGS.resultsFile,
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, runs: RUNS, seconds: SECONDS, generator: echo.generator, runtimes: echo.runtimes, rows: all, targets: echo.targets, stream, idle, chatFanout: fanout, chatBurst: burst, chatRedis, transfer, smallFiles, wormhole }, null, 2)}\n`,
);
