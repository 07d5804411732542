/**
 * The native reactor's raw echo (bench/servers/reactor-echo.ts) against the plain Node.js
 * servers and the C epoll echo, driven by the C epoll client (load-generator.ts): 64-byte ping-pong at 50
 * and 500 connections, and 512-byte UDP echo at 1 and 50 sockets. Runs interleaved
 * (A, B, C, A, B, C, ...), medians, ratio to the first server of each scenario. Beside the
 * round trips, the server's own CPU time per round trip (user and system, from /proc): on a
 * machine where the load generator saturates a core, that shows what the server costs when
 * the rate cannot.
 *
 *   npx tsx bench/reactor.ts            # BENCH_RUNS (5) runs of BENCH_SECONDS (2) s
 *   BENCH_ONLY=udp npx tsx bench/reactor.ts
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { compiledServer, median, mediansAndRatios, SETTINGS, startServer } from "./lib.ts";
import { loadGenerator } from "./load-generator.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const ONLY = new Set((process.env.BENCH_ONLY ?? "pingpong,udp").split(","));
const TICK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout) || 100;

/** CPU seconds the process `pid` has used: [user, system]. */
function cpuOf(pid: number): [number, number] {
  const fields = (readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1] ?? "").split(" ");
  return [Number(fields[11]) / TICK, Number(fields[12]) / TICK];
}

interface Spec {
  name: string;
  command: string;
  args: string[];
}

const node = (name: string, file: string, ...args: string[]): Spec => ({
  name,
  command: process.execPath,
  args: ["--import", "tsx", `${HERE}servers/${file}`, ...args],
});

const epoll = compiledServer("epoll-echo");
const TCP: Spec[] = [
  node("raw node:net (socket.pipe)", "net-echo.ts"),
  node("socketkit reactor (raw echo)", "reactor-echo.ts"),
  ...("path" in epoll ? [{ name: "C epoll echo", command: epoll.path, args: [] }] : []),
];
const UDP: Spec[] = [
  node("raw node:dgram", "dgram-echo.ts"),
  node("socketkit reactor (raw echo, sendmmsg)", "reactor-echo.ts", "--udp"),
];

interface Row {
  scenario: string;
  server: string;
  runs: number[];
  median: number | null;
  ratio?: number;
  /** Server CPU microseconds per round trip, per run: user, system. */
  user: number[];
  system: number[];
}

async function scenario(title: string, specs: Spec[], conns: number, size: number, udp: boolean) {
  process.stderr.write(`running: ${title}\n`);
  const rows: Row[] = [];
  const live: Array<{ row: Row; pid: number; port: number; stop: () => Promise<void> }> = [];
  const run = async (port: number, seconds: number) =>
    (await generator.run(port, { conns, size, seconds, udp })).perSecond;
  try {
    for (const spec of specs) {
      const row: Row = {
        scenario: title,
        server: spec.name,
        runs: [],
        median: null,
        user: [],
        system: [],
      };
      rows.push(row);
      const server = await startServer(spec.command, spec.args);
      live.push({ row, ...server });
      await run(server.port, 0.3); // warm-up
    }
    for (let i = 0; i < SETTINGS.runs; i++) {
      for (const { row, pid, port } of live) {
        const [user, system] = cpuOf(pid);
        const rate = await run(port, SETTINGS.seconds);
        const [user2, system2] = cpuOf(pid);
        row.runs.push(rate);
        row.user.push(((user2 - user) * 1e6) / (rate * SETTINGS.seconds));
        row.system.push(((system2 - system) * 1e6) / (rate * SETTINGS.seconds));
      }
    }
  } finally {
    await Promise.all(live.map((l) => l.stop()));
  }
  mediansAndRatios(rows);
  for (const r of rows) {
    const runs = r.runs.map((v) => Math.round(v)).join(", ");
    const cpu = `${median(r.user).toFixed(2)} + ${median(r.system).toFixed(2)}`;
    console.log(
      `${title} | ${r.server} | ${Math.round(r.median ?? 0)} | ${(r.ratio ?? 0).toFixed(2)} | ${cpu} | ${runs}`,
    );
  }
}

const generator = loadGenerator();
console.log(
  `load generator: ${generator.name}${generator.fallback ? ` (${generator.fallback})` : ""}`,
);
console.log("scenario | server | median rt/s | ratio | server CPU µs/rt, user + system | runs");
if (ONLY.has("pingpong")) {
  for (const conns of [50, 500]) {
    await scenario(`64-byte ping-pong, ${conns} connections`, TCP, conns, 64, false);
  }
}
if (ONLY.has("udp")) {
  for (const conns of [1, 50]) {
    await scenario(
      `512-byte UDP echo, ${conns} socket${conns === 1 ? "" : "s"}`,
      UDP,
      conns,
      512,
      true,
    );
  }
}
