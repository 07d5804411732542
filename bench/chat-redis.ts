/**
 * Chat on many servers: S `socketkit chat serve --redis` processes on one redis-server
 * (started here on a free port, nothing saved), N members spread over them, one member
 * sends 50 messages; the time from each send to the last member's receipt (on every
 * server), p50 / p99 / max; each server's memory per idle member; Redis's memory. Then the
 * same room on one server with `--redis` and without, interleaved (A, B, A, B), for the
 * cost of the stream.
 *
 *   npx tsx bench/chat-redis.ts [MEMBERS] [SERVERS]     # default: 30000 3
 *
 * The members' sockets are held by this process and, past BENCH_PER_PROCESS (12,000) of
 * them, by child processes of its own (a process's descriptors are bounded by `ulimit -n`,
 * 20,000 on the machine of the figures in bench/README.md); each says when all of its
 * members have a message, on one clock, and the last of them ends the round.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { type BenchServer, rssOf, SETTINGS, startRedis, startServer } from "./lib.ts";

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

/**
 * A chat server for `members` of its own, in a room of `total` members (on every server
 * sharing the Redis): the per-address limit counts over all of them.
 */
function chatServer(members: number, total: number, redis: string | null): Promise<BenchServer> {
  const args = ["--import", "tsx", `${ROOT}src/cli/main.ts`, "chat", "serve", "--port", "0"];
  args.push("--history", "0", "--rate", "100000", "--quiet-above", "0");
  args.push("--max-clients", String(members + 10));
  args.push("--max-per-host", String(total + 10)); // every member is on 127.0.0.1
  if (redis !== null) args.push("--redis", redis);
  return startServer(process.execPath, args);
}

/** Members one process holds at most (its descriptor limit is 20,000 on the figures' machine). */
const PER_PROCESS = Number(process.env.BENCH_PER_PROCESS ?? 12_000) || 12_000;

/** The fan-out line of round `r`, as members see it. */
const lineOf = (r: number) => `fan-${String(r).padStart(6, "0")}`;

/** The clock every process of a run reads: milliseconds, comparable across processes. */
const clock = () => performance.timeOrigin + performance.now();

/**
 * Members `first` to `first + count - 1` of a room (member i on port i mod n), joined in
 * batches; `roundDone(r, at)` once every one of them has round `r`'s line (no notices, no
 * history: once named, every byte a member gets is a fan-out line). Resolves once all are
 * named, with their sockets.
 */
async function holdMembers(
  ports: number[],
  first: number,
  count: number,
  tag: string,
  roundDone: (round: number, at: number) => void,
): Promise<Socket[]> {
  const sockets: Socket[] = [];
  const bytes = new Array<number>(count).fill(0);
  const named = new Array<boolean>(count).fill(false);
  const lineLength = `[00:00:00] <${tag}0> ${lineOf(0)}\r\n`.length;
  let round = 0;
  let scheduled = false;
  // Every member's bytes, checked once a turn: a round is done when each has its line.
  const check = () => {
    scheduled = false;
    const want = (round + 1) * lineLength;
    // Member 0 is the sender: a member is not sent its own lines.
    for (let k = first === 0 ? 1 : 0; k < count; k++) if ((bytes[k] as number) < want) return;
    roundDone(round++, clock());
    check();
  };
  for (let at = 0; at < count; at += 200) {
    const batch = Array.from({ length: Math.min(200, count - at) }, (_, k) => at + k);
    await Promise.all(
      batch.map(
        (k) =>
          new Promise<void>((resolve, reject) => {
            const i = first + k;
            const port = ports[i % ports.length] as number;
            const s = connect({ port, host: "127.0.0.1" }, () => s.write(`${tag}${i}\n`));
            sockets[k] = s;
            let text = "";
            s.on("error", reject);
            s.on("data", (chunk: Buffer) => {
              if (!named[k]) {
                text += chunk.toString();
                if (text.includes(`You are ${tag}${i}.`)) {
                  named[k] = true;
                  resolve();
                }
                return;
              }
              bytes[k] = (bytes[k] as number) + chunk.length;
              if (!scheduled) {
                scheduled = true;
                setImmediate(check);
              }
            });
          }),
      ),
    );
  }
  return sockets;
}

/**
 * Joins `members` members over `ports`, this process holding up to {@link PER_PROCESS}
 * (the sender, member 0, among them) and child processes the rest; then member 0 sends
 * `rounds` messages, each once every member has the one before. Returns the times from
 * each send until the last member anywhere had it, sorted.
 */
async function fanOut(
  ports: number[],
  members: number,
  rounds: number,
  joined: () => void,
  tag = "m",
): Promise<number[]> {
  const children: ChildProcess[] = [];
  const done = new Map<number, number[]>(); // round -> the time each holder had it
  let notify: (() => void) | null = null;
  const report = (round: number, at: number) => {
    done.set(round, [...(done.get(round) ?? []), at]);
    notify?.();
  };
  let sockets: Socket[] = [];
  try {
    const ready: Promise<void>[] = [];
    for (let first = PER_PROCESS; first < members; first += PER_PROCESS) {
      const count = Math.min(PER_PROCESS, members - first);
      const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
        env: { ...process.env, SOCKETKIT_BENCH_FARM: JSON.stringify({ ports, first, count, tag }) },
        stdio: ["ignore", "pipe", "inherit"],
      });
      children.push(child);
      ready.push(
        new Promise<void>((resolve, reject) => {
          let out = "";
          child.stdout?.on("data", (c: Buffer) => {
            out += c.toString();
            for (let nl = out.indexOf("\n"); nl !== -1; nl = out.indexOf("\n")) {
              const m = JSON.parse(out.slice(0, nl)) as {
                joined?: true;
                round?: number;
                at?: number;
              };
              out = out.slice(nl + 1);
              if (m.joined) resolve();
              else report(m.round as number, m.at as number);
            }
          });
          child.once("exit", (code) => reject(new Error(`a member farm exited (${code})`)));
        }),
      );
    }
    sockets = await holdMembers(ports, 0, Math.min(PER_PROCESS, members), tag, report);
    await Promise.all(ready);
    joined();
    const holders = 1 + children.length;
    const times: number[] = [];
    const sender = sockets[0] as Socket;
    for (let r = 0; r < rounds; r++) {
      const start = clock();
      await new Promise<void>((resolve) => {
        notify = () => {
          if ((done.get(r)?.length ?? 0) < holders) return;
          notify = null;
          resolve();
        };
        sender.write(`${lineOf(r)}\n`);
      });
      times.push(Math.max(...(done.get(r) as number[])) - start);
    }
    return times.sort((a, b) => a - b);
  } finally {
    for (const s of sockets) s?.destroy();
    for (const c of children) if (c.exitCode === null) c.kill();
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
      started.push(
        await chatServer(Math.ceil(members / servers), members, withRedis ? redis.url : null),
      );
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
        const server = await chatServer(members, members, withRedis ? redis.url : null);
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

if (process.env.SOCKETKIT_BENCH_FARM !== undefined) {
  // A member farm of fanOut: holds its members, says when they are in, then each round.
  const { ports, first, count, tag } = JSON.parse(process.env.SOCKETKIT_BENCH_FARM) as {
    ports: number[];
    first: number;
    count: number;
    tag: string;
  };
  const say = (m: object) => process.stdout.write(`${JSON.stringify(m)}\n`);
  await holdMembers(ports, first, count, tag, (round, at) => say({ round, at }));
  say({ joined: true });
} else if (import.meta.url === `file://${process.argv[1]}`) {
  const members = Number(process.argv[2] ?? 30_000);
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
