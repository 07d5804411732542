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
 * The members are held by member farms, child processes that each say when all of theirs
 * have a message, on one clock (CLOCK_MONOTONIC), the last of them ending the round: by
 * default `servers/chat-members.c` (epoll in C, 15,000 members a process), so that reading
 * 30,000 sockets costs the machine little beside the servers; with
 * `BENCH_MEMBERS_IN=node` (or no C compiler), node:net ones, this process holding the
 * first 12,000. BENCH_PER_PROCESS sets the members a farm holds (a process's descriptors
 * are bounded by `ulimit -n`, 20,000 on the machine of the figures in bench/README.md).
 * While the messages fan out, the CPU time of each process (servers, Redis, farms) and
 * how busy the machine's cores were is measured, to say what bounds the figures.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import {
  type BenchServer,
  compiledServer,
  cpuSecondsOf,
  machineTicks,
  percentile,
  rssOf,
  SETTINGS,
  startRedis,
  startServer,
} from "./lib.ts";

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
  /** Where the machine's time went while the messages fanned out. */
  cpu: CpuSplit;
}

/** CPU seconds each part used from the first send to the last receipt. */
export interface CpuSplit {
  /** Seconds from the first send to the last member's receipt of the last message. */
  wall: number;
  /** Each server's. */
  servers: number[];
  redis: number;
  /** The member farms' and this process's (the sender's). */
  members: number;
  /** Every core's busy time, whoever's (on a shared machine, others' work too). */
  machine: number;
  /** Cores of the machine. */
  cores: number;
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

/** Who holds the members: C farms (the default, where there is a C compiler) or node:net ones. */
const MEMBERS_IN = process.env.BENCH_MEMBERS_IN === "node" ? "node" : "c";

/** Microseconds a C farm sleeps between batches of reads (see servers/chat-members.c). */
const PAUSE_US = Number(process.env.BENCH_MEMBERS_PAUSE_US ?? 1000);

/**
 * Members one process holds at most (its descriptor limit is 20,000 on the figures'
 * machine): 15,000 in a C farm, 12,000 in a node:net one (which also holds its sockets'
 * JavaScript objects).
 */
const perProcess = (c: boolean) =>
  Number(process.env.BENCH_PER_PROCESS ?? (c ? 15_000 : 12_000)) || 12_000;

/** The fan-out line of round `r`, as members see it. */
const lineOf = (r: number) => `fan-${String(r).padStart(6, "0")}`;

/** The clock every process of a run reads: CLOCK_MONOTONIC in milliseconds, as the C farm's. */
const clock = () => Number(process.hrtime.bigint()) / 1e6;

/** CPU seconds of this process so far. */
const ownCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

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

/** A member farm: its process, and when all of its members are named. */
interface Farm {
  child: ChildProcess;
  joined: Promise<void>;
}

/**
 * Starts a member farm for members `first` to `first + count - 1` (see
 * {@link holdMembers}; `c`: servers/chat-members.c at `path`, else this script); its
 * `{"round","at"}` lines go to `report`, its exit (a member lost) to `lost`.
 */
function startFarm(
  path: string | null,
  ports: number[],
  first: number,
  count: number,
  tag: string,
  rounds: number,
  report: (round: number, at: number) => void,
  lost: (err: Error) => void,
): Farm {
  const lineLength = `[00:00:00] <${tag}0> ${lineOf(0)}\r\n`.length;
  const child =
    path !== null
      ? spawn(
          path,
          [
            ports.join(","),
            String(first),
            String(count),
            tag,
            String(lineLength),
            String(rounds),
            String(PAUSE_US),
          ],
          { stdio: ["ignore", "pipe", "inherit"] },
        )
      : spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
          env: {
            ...process.env,
            SOCKETKIT_BENCH_FARM: JSON.stringify({ ports, first, count, tag }),
          },
          stdio: ["ignore", "pipe", "inherit"],
        });
  const joined = new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
      for (let nl = out.indexOf("\n"); nl !== -1; nl = out.indexOf("\n")) {
        const m = JSON.parse(out.slice(0, nl)) as { joined?: true; round?: number; at?: number };
        out = out.slice(nl + 1);
        if (m.joined) resolve();
        else report(m.round as number, m.at as number);
      }
    });
    child.once("exit", (code, signal) => {
      const err = new Error(`a member farm exited (${code ?? signal})`);
      reject(err);
      lost(err);
    });
  });
  // Awaited later: a farm that fails meanwhile is not an unhandled rejection.
  joined.catch(() => {});
  return { child, joined };
}

/**
 * Joins `members` members over `ports` in member farms (see {@link MEMBERS_IN}; with node:net
 * farms this process holds the first of them, the sender among them; with C farms it holds
 * only the sender); then member 0 sends `rounds` messages, each once every member has the
 * one before. `joined` is called once every member is in, `done` after the last message;
 * returns the times from each send until the last member anywhere had it, sorted, and the
 * CPU seconds the farms and this process used in between.
 */
async function fanOut(
  ports: number[],
  members: number,
  rounds: number,
  joined: () => void,
  done: () => void,
  tag = "m",
): Promise<{ times: number[]; cpu: number }> {
  const compiled = MEMBERS_IN === "c" ? compiledServer("chat-members") : null;
  const path = compiled !== null && "path" in compiled ? compiled.path : null;
  if (compiled !== null && "missing" in compiled) {
    process.stderr.write(`C member farm unavailable (${compiled.missing}): node:net farms\n`);
  }
  const per = perProcess(path !== null);
  const farms: Farm[] = [];
  const finished = new Map<number, number[]>(); // round -> the time each holder had it
  let notify: (() => void) | null = null;
  let failure: Error | null = null;
  const report = (round: number, at: number) => {
    finished.set(round, [...(finished.get(round) ?? []), at]);
    notify?.();
  };
  const lost = (err: Error) => {
    failure ??= err;
    notify?.();
  };
  let sockets: Socket[] = [];
  try {
    // This process: the sender alone (C farms), or the first `per` members (node:net).
    const here = path !== null ? 1 : Math.min(per, members);
    for (let first = here; first < members; first += per) {
      const count = Math.min(per, members - first);
      farms.push(startFarm(path, ports, first, count, tag, rounds, report, lost));
    }
    sockets = await holdMembers(ports, 0, here, tag, here > 1 ? report : noop);
    await Promise.all(farms.map((f) => f.joined));
    joined();
    // Each farm says when all of its members have a message, and so does this process
    // when it holds more than the sender.
    const holders = farms.length + (here > 1 ? 1 : 0);
    const pids = farms.map((f) => f.child.pid as number);
    const cpuBefore = ownCpu() + pids.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0);
    const times: number[] = [];
    const sender = sockets[0] as Socket;
    for (let r = 0; r < rounds; r++) {
      const start = clock();
      await new Promise<void>((resolve, reject) => {
        notify = () => {
          if (failure !== null) reject(failure);
          if ((finished.get(r)?.length ?? 0) < holders) return;
          notify = null;
          resolve();
        };
        sender.write(`${lineOf(r)}\n`);
      });
      times.push(Math.max(...(finished.get(r) as number[])) - start);
    }
    const cpu = ownCpu() + pids.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0) - cpuBefore;
    done();
    return { times: times.sort((a, b) => a - b), cpu };
  } finally {
    for (const s of sockets) s?.destroy();
    for (const f of farms) {
      f.child.removeAllListeners("exit");
      if (f.child.exitCode === null) f.child.kill();
    }
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
    // CPU seconds of the servers and Redis, and the machine's ticks, over the fan-out.
    const cpuNow = () => ({
      at: clock(),
      servers: started.map((s) => cpuSecondsOf(s.pid)),
      redis: withRedis ? cpuSecondsOf(redis.pid) : 0,
      machine: machineTicks(),
    });
    let from = cpuNow();
    let to = from;
    const { times, cpu: membersCpu } = await fanOut(
      started.map((s) => s.port),
      members,
      ROUNDS,
      () => {
        after = started.map((s) => rssOf(s.pid));
        from = cpuNow();
      },
      () => {
        to = cpuNow();
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
      cpu: {
        wall: (to.at - from.at) / 1000,
        servers: to.servers.map((c, i) => c - (from.servers[i] as number)),
        redis: to.redis - from.redis,
        members: membersCpu,
        machine:
          (to.machine.total - to.machine.idle - (from.machine.total - from.machine.idle)) / 100,
        cores: cpus().length,
      },
    };
  } finally {
    for (const s of started) await s.stop();
    await redis.stop();
  }
}

const noop = () => {};

/**
 * Where the machine's time went while the messages fanned out: CPU seconds of the servers,
 * Redis, the members, and how busy the cores were (the rest of that busy time is work of
 * other programs).
 */
export function describeCpu(c: CpuSplit): string {
  const ours = c.servers.reduce((a, b) => a + b, 0) + c.redis + c.members;
  // Ticks are 10 ms: over a short run the ratio can come out above 1.
  const busy = Math.min(1, c.machine / (c.wall * c.cores));
  return (
    `CPU over the ${c.wall.toFixed(1)} s of the messages: servers ${c.servers.map((x) => x.toFixed(2)).join(" / ")} s, ` +
    `Redis ${c.redis.toFixed(2)} s, members ${c.members.toFixed(2)} s; ` +
    `${c.cores} cores ${(busy * 100).toFixed(0)}% busy (other work ${Math.max(0, c.machine - ours).toFixed(2)} s)`
  );
}

/** Empties the Redis at `url` (the benchmark's own). */
async function flushRedis(url: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    await client.flushall();
  } finally {
    client.disconnect();
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
        // The server of the run before was killed: its members' per-address counts (and
        // nicknames) would hold their slots in Redis for the lease. Each run starts on an
        // empty Redis instead.
        if (withRedis) await flushRedis(redis.url);
        const server = await chatServer(members, members, withRedis ? redis.url : null);
        try {
          // Names of their own: a killed server's nicknames stay taken for its lease.
          const tag = `r${run}${withRedis ? "x" : "y"}m`;
          const { times } = await fanOut([server.port], members, ROUNDS, noop, noop, tag);
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
    return `p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms; memory per idle member ${kib} KiB${redis}\n  ${describeCpu(r.cpu)}`;
  };
  if (part.includes("spread")) {
    // Interleaved: the members over S servers on Redis, then the same room on one server,
    // where one process can hold them all (BENCH_PART=spread-only: the first alone).
    const baseline = !part.includes("spread-only") && members <= 18_000;
    const spread: SpreadResult[] = [];
    const one: SpreadResult[] = [];
    for (let run = 0; run < runs; run++) {
      spread.push(await chatOnRedis(members, servers));
      console.log(
        `${members} members over ${servers} servers on Redis: ${show(spread.at(-1) as SpreadResult)}`,
      );
      if (!baseline) continue;
      one.push(await chatOnRedis(members, 1, false));
      console.log(
        `${members} members on one server, no Redis: ${show(one.at(-1) as SpreadResult)}`,
      );
    }
    const med = (xs: number[]) =>
      [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    console.log(
      `medians of ${runs}, ${servers} servers on Redis: p50 ${med(spread.map((r) => r.p50)).toFixed(1)} ms, p99 ${med(spread.map((r) => r.p99)).toFixed(1)} ms, max ${med(spread.map((r) => r.max)).toFixed(1)} ms`,
    );
    if (baseline) {
      const p50 = med(spread.map((r) => r.p50)) / med(one.map((r) => r.p50));
      const p99 = med(spread.map((r) => r.p99)) / med(one.map((r) => r.p99));
      console.log(
        `medians, ${servers} servers on Redis against one server: p50 ${p50.toFixed(2)}x, p99 ${p99.toFixed(2)}x`,
      );
    }
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
