/**
 * Chat on many servers: S `socketkit chat serve --redis` processes on one redis-server
 * (started here on a free port, nothing saved), N members spread over them, one member
 * sends 50 messages; the time from each send to the last member's receipt (on every
 * server), p50 / p99 / max; each server's memory per idle member; Redis's memory. Then the
 * same room on one server with `--redis` and without, interleaved (A, B, A, B), for the
 * cost of the stream.
 *
 *   npx tsx bench/chat-redis.ts [MEMBERS] [SERVERS]     # default: 15000 3
 *
 * One process holds every member's socket here, so N is bounded by its descriptor limit
 * (`ulimit -n`, 20,000 on the machine of the figures in bench/README.md).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { type BenchServer, freePort, rssOf, SETTINGS, startServer } from "./lib.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ROUNDS = SETTINGS.fanoutRounds;

/** What one room of members spread over servers measured. */
export interface SpreadResult {
  members: number;
  servers: number;
  rounds: number;
  p50: number;
  p99: number;
  max: number;
  /** Each server's RSS growth per member it holds, bytes. */
  bytesPerMember: number[];
  /** Redis's used_memory with the members in the room, bytes. */
  redisBytes: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** A redis-server on a free port in a temporary folder, nothing saved. */
async function startRedis(): Promise<{ url: string; port: number; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "socketkit-bench-redis-"));
  const port = await freePort();
  const child: ChildProcess = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { cwd: dir, stdio: ["ignore", "pipe", "ignore"] },
  );
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
      if (out.includes("Ready to accept connections")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async () => {
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function chatServer(members: number, redis: string | null): Promise<BenchServer> {
  const args = ["--import", "tsx", `${ROOT}src/cli/main.ts`, "chat", "serve", "--port", "0"];
  args.push("--history", "0", "--rate", "100000", "--quiet-above", "0");
  args.push("--max-clients", String(members + 10));
  args.push("--max-per-host", String(members + 10)); // every member is on 127.0.0.1
  if (redis !== null) args.push("--redis", redis);
  return startServer(process.execPath, args);
}

/**
 * Joins `members` members over `ports` (member i on port i mod n), then member 0 sends
 * `rounds` messages, each once the last member has the one before; returns the times.
 */
async function fanOut(
  ports: number[],
  members: number,
  rounds: number,
  joined: () => void,
  tag = "m",
): Promise<number[]> {
  const sockets: Socket[] = [];
  try {
    // No notices (--quiet-above 0) and no history: once named, every byte a member gets
    // belongs to the fan-out messages.
    const bytes = new Array<number>(members).fill(0);
    const named = new Array<boolean>(members).fill(false);
    let onByte: (() => void) | null = null;
    for (let first = 0; first < members; first += 200) {
      const batch = Array.from({ length: Math.min(200, members - first) }, (_, k) => first + k);
      await Promise.all(
        batch.map(
          (i) =>
            new Promise<void>((resolve, reject) => {
              const port = ports[i % ports.length] as number;
              const s = connect({ port, host: "127.0.0.1" }, () => s.write(`${tag}${i}\n`));
              sockets[i] = s;
              let text = "";
              s.on("error", reject);
              s.on("data", (chunk: Buffer) => {
                if (!named[i]) {
                  text += chunk.toString();
                  if (text.includes(`You are ${tag}${i}.`)) {
                    named[i] = true;
                    resolve();
                  }
                  return;
                }
                bytes[i] = (bytes[i] as number) + chunk.length;
                onByte?.();
              });
            }),
        ),
      );
    }
    joined();
    const line = (r: number) => `fan-${String(r).padStart(6, "0")}`;
    const lineLength = `[00:00:00] <${tag}0> ${line(0)}\r\n`.length;
    const base = bytes.slice();
    const times: number[] = [];
    const sender = sockets[0] as Socket;
    for (let r = 0; r < rounds; r++) {
      const want = (r + 1) * lineLength;
      const start = performance.now();
      await new Promise<void>((resolve) => {
        let pending = members - 1;
        const done = new Array<boolean>(members).fill(false);
        const check = () => {
          for (let i = 1; i < members; i++) {
            if (!done[i] && (bytes[i] as number) - (base[i] as number) >= want) {
              done[i] = true;
              pending--;
            }
          }
          if (pending === 0) {
            onByte = null;
            resolve();
          }
        };
        let scheduled = false;
        onByte = () => {
          if (scheduled) return;
          scheduled = true;
          setImmediate(() => {
            scheduled = false;
            check();
          });
        };
        sender.write(`${line(r)}\n`);
      });
      times.push(performance.now() - start);
    }
    return times.sort((a, b) => a - b);
  } finally {
    for (const s of sockets) s?.destroy();
  }
}

/**
 * N members over S servers on one Redis; with `redis` false, the same room on one server
 * without Redis (S must be 1): the baseline for the same number of members.
 */
export async function chatOnRedis(
  members: number,
  servers: number,
  withRedis = true,
): Promise<SpreadResult> {
  const redis = await startRedis();
  const started: BenchServer[] = [];
  try {
    for (let i = 0; i < servers; i++) {
      started.push(await chatServer(Math.ceil(members / servers), withRedis ? redis.url : null));
    }
    const before = started.map((s) => rssOf(s.pid));
    let after: number[] = [];
    let redisBytes = 0;
    const times = await fanOut(
      started.map((s) => s.port),
      members,
      ROUNDS,
      () => {
        after = started.map((s) => rssOf(s.pid));
      },
    );
    const client = new Redis(redis.url);
    const info = await client.info("memory");
    redisBytes = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
    client.disconnect();
    return {
      members,
      servers,
      rounds: ROUNDS,
      p50: percentile(times, 50),
      p99: percentile(times, 99),
      max: times[times.length - 1] as number,
      bytesPerMember: after.map((a, i) => (a - (before[i] as number)) / (members / servers)),
      redisBytes,
    };
  } finally {
    for (const s of started) await s.stop();
    await redis.stop();
  }
}

/** One server, with `--redis` and without, interleaved `runs` times: p50 and p99 of each. */
export async function oneServerWithAndWithout(
  members: number,
  runs: number,
): Promise<{ redis: number[][]; local: number[][] }> {
  const redis = await startRedis();
  const out = { redis: [] as number[][], local: [] as number[][] };
  try {
    for (let run = 0; run < runs; run++) {
      for (const withRedis of [true, false]) {
        const server = await chatServer(members, withRedis ? redis.url : null);
        try {
          // Names of their own: a killed server's nicknames stay taken for its lease.
          const tag = `r${run}${withRedis ? "x" : "y"}m`;
          const times = await fanOut([server.port], members, ROUNDS, () => {}, tag);
          (withRedis ? out.redis : out.local).push([percentile(times, 50), percentile(times, 99)]);
        } finally {
          await server.stop();
        }
      }
    }
    return out;
  } finally {
    await redis.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const members = Number(process.argv[2] ?? 15_000);
  const servers = Number(process.argv[3] ?? 3);
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  const part = process.env.BENCH_PART ?? "spread,single";
  const show = (r: SpreadResult) => {
    const kib = r.bytesPerMember.map((b) => (b / 1024).toFixed(1)).join(" / ");
    const redis =
      r.redisBytes > 0 && r.servers > 1 ? `; Redis ${(r.redisBytes / 1048576).toFixed(1)} MiB` : "";
    return `p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms; memory per idle member ${kib} KiB${redis}`;
  };
  if (part.includes("spread")) {
    // Interleaved: the members over S servers on Redis, then the same room on one server.
    const spread: SpreadResult[] = [];
    const one: SpreadResult[] = [];
    for (let run = 0; run < runs; run++) {
      spread.push(await chatOnRedis(members, servers));
      console.log(
        `${members} members over ${servers} servers on Redis: ${show(spread.at(-1) as SpreadResult)}`,
      );
      one.push(await chatOnRedis(members, 1, false));
      console.log(
        `${members} members on one server, no Redis: ${show(one.at(-1) as SpreadResult)}`,
      );
    }
    const med = (xs: number[]) =>
      [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const p50 = med(spread.map((r) => r.p50)) / med(one.map((r) => r.p50));
    const p99 = med(spread.map((r) => r.p99)) / med(one.map((r) => r.p99));
    console.log(
      `medians, ${servers} servers on Redis against one server: p50 ${p50.toFixed(2)}x, p99 ${p99.toFixed(2)}x`,
    );
  }
  if (part.includes("single")) {
    const single = Number(process.env.BENCH_SINGLE_MEMBERS ?? 5000);
    const r = await oneServerWithAndWithout(single, runs);
    const rows = (xs: number[][]) =>
      xs.map(([a, b]) => `${a?.toFixed(1)}/${b?.toFixed(1)}`).join(", ");
    console.log(
      `one server, ${single} members, p50/p99 ms per run: --redis ${rows(r.redis)}; without ${rows(r.local)}`,
    );
  }
}
