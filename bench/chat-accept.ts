import { connect } from "node:net";
import { Redis } from "ioredis";
import { LocalHostLimit } from "../src/apps/chat/local-host-limit.ts";
import { chatServe } from "../src/apps/chat/server.ts";
import { median, startRedis } from "./lib.ts";

/** Redis's commands processed so far (the scripts' own included), and the script calls. */
async function commandsOf(client: Redis): Promise<[number, number]> {
  const stats = await client.info("stats");
  const perCommand = await client.info("commandstats");
  const calls = (name: string) =>
    Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(perCommand)?.[1] ?? 0);
  return [
    Number(/total_commands_processed:(\d+)/.exec(stats)?.[1] ?? 0),
    calls("evalsha") + calls("eval"),
  ];
}

/** One run: the times to a nickname prompt, sorted, and Redis's commands per connection. */
async function run(
  redis: string,
  shared: boolean,
  connections: number,
  batch: number,
): Promise<{ times: number[]; commands: number; scripts: number }> {
  const stop = new AbortController();
  let ready: (port: number) => void = () => {};
  const listening = new Promise<number>((resolve) => {
    ready = resolve;
  });
  const max = connections + 10;
  const serving = chatServe({
    port: 0,
    redis,
    maxMembers: max,
    maxPerHost: max,
    hostLimit: shared ? undefined : new LocalHostLimit({ max }),
    log: () => {},
    signal: stop.signal,
    onListening: ([, port]) => ready(port),
  });
  const port = await listening;
  const client = new Redis(redis);
  const times: number[] = [];
  const sockets: ReturnType<typeof connect>[] = [];
  try {
    const before = await commandsOf(client);
    for (let at = 0; at < connections; at += batch) {
      const n = Math.min(batch, connections - at);
      await Promise.all(
        Array.from(
          { length: n },
          () =>
            new Promise<void>((resolve, reject) => {
              const start = performance.now();
              const s = connect({ port, host: "127.0.0.1" });
              sockets.push(s);
              let text = "";
              s.on("error", reject);
              s.on("data", (chunk: Buffer) => {
                text += chunk.toString();
                if (text.includes("Choose a nickname: ")) {
                  times.push(performance.now() - start);
                  resolve();
                } else if (text.includes("error:")) reject(new Error(text));
              });
            }),
        ),
      );
    }
    for (const s of sockets) s.destroy();
    // The counts given back (not waited for by the server) are in before the count ends.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const after = await commandsOf(client);
    return {
      times: times.sort((a, b) => a - b),
      // Less the two INFO calls of the count.
      commands: (after[0] - before[0] - 2) / connections,
      scripts: (after[1] - before[1]) / connections,
    };
  } finally {
    client.disconnect();
    stop.abort();
    await serving;
  }
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;

if (import.meta.url === `file://${process.argv[1]}`) {
  const connections = Number(process.argv[2] ?? 2000);
  const batch = Number(process.argv[3] ?? 200);
  const runs = Number(process.env.BENCH_RUNS ?? 5);
  const redis = await startRedis();
  const p50 = { shared: [] as number[], local: [] as number[] };
  const p99 = { shared: [] as number[], local: [] as number[] };
  try {
    for (let r = 0; r < runs; r++) {
      for (const shared of [true, false]) {
        const { times, commands, scripts } = await run(redis.url, shared, connections, batch);
        const key = shared ? "shared" : "local";
        p50[key].push(pct(times, 50));
        p99[key].push(pct(times, 99));
        console.log(
          `${shared ? "over Redis" : "this server"}: ${connections} connections, ${batch} at a time: to the prompt p50 ${pct(times, 50).toFixed(2)} ms, p99 ${pct(times, 99).toFixed(2)} ms; per connection, Redis script calls ${scripts.toFixed(2)} and commands ${commands.toFixed(2)} (the scripts' own included)`,
        );
      }
    }
  } finally {
    await redis.stop();
  }
  console.log(
    `medians, counted over Redis against this server only: p50 ${(median(p50.shared) / median(p50.local)).toFixed(2)}x, p99 ${(median(p99.shared) / median(p99.local)).toFixed(2)}x`,
  );
}
