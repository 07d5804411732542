/**
 * The echo scenarios of `npm run bench`: 64-byte TCP ping-pong at 1, 50 and 500
 * connections and 512-byte UDP echo at 1 and 50 sockets, each against socketkit's servers
 * and, in the same run, the baselines a user would pick instead (raw Node.js, Python, Bun,
 * Deno, socat) and a C echo server that shows the limit of the load generator and the
 * machine. The generator is the C epoll client (see load-generator.ts).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  compiledServer,
  cpuSecondsOf,
  machineTicks,
  median,
  SETTINGS,
  startServer,
} from "./lib.ts";
import { type LoadGenerator, loadGenerator, type Measurement } from "./load-generator.ts";
import { installRuntimes, type RuntimeName, runtime, runtimeEnv } from "./runtimes.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const RUNS = SETTINGS.runs;
const SECONDS = SETTINGS.seconds;
/** Seconds of the one unmeasured run each server gets once it is up (its JIT warms up). */
const WARMUP = SETTINGS.smoke ? 0.1 : 0.5;
/** How much faster than every other server the C echo must go to show the generator is not the limit. */
const GENERATOR_MARGIN = 1.1;

interface ServerSpec {
  name: string;
  command: string;
  /** `{port}` is replaced by a free port when the server cannot print its own. */
  args: string[];
  available: () => string | null;
  /** The server does not print `listening on`: we pick the port and wait for it. */
  portFromUs?: boolean;
  env?: Record<string, string>;
  /** It serves in forked children, whose CPU time /proc does not give it: none is reported. */
  forks?: boolean;
}

const node = (file: string, name: string): ServerSpec => ({
  name,
  command: process.execPath,
  args: ["--import", "tsx", `${HERE}servers/${file}`],
  available: () => null,
});

const hasPython = () =>
  spawnSync("python3", ["--version"]).status === 0
    ? null
    : "python3 not installed (apt-get install -y python3)";

const python = (file: string, name: string): ServerSpec => ({
  name,
  command: "python3",
  args: [`${HERE}servers/${file}`],
  available: hasPython,
});

const compiled = (file: string, name: string): ServerSpec => ({
  name,
  get command() {
    const c = compiledServer(file);
    return "path" in c ? c.path : "cc";
  },
  args: [],
  available: () => {
    const c = compiledServer(file);
    return "missing" in c ? c.missing : null;
  },
});

/** Why Bun or Deno could not be installed, when `npm run bench:install` failed. */
let installFailure: string | null = null;

const onRuntime = (rt: RuntimeName, args: string[], name: string): ServerSpec => ({
  name,
  get command() {
    const r = runtime(rt);
    return "path" in r ? r.path : rt;
  },
  args,
  env: runtimeEnv(rt),
  available: () => {
    const r = runtime(rt);
    if ("path" in r) return null;
    return installFailure === null ? r.missing : `${r.missing}; ${installFailure}`;
  },
});

const bun = (file: string, name: string) =>
  onRuntime("bun", ["--no-install", `${HERE}servers/${file}`], name);
/** Deno with the network on the loopback only, and no config, lock file or downloads. */
const deno = (file: string, name: string, unstable: string[] = []) =>
  onRuntime(
    "deno",
    [
      "run",
      "--no-config",
      "--no-lock",
      "--no-remote",
      "--no-npm",
      ...unstable,
      "--allow-net=127.0.0.1",
      `${HERE}servers/${file}`,
    ],
    name,
  );

const SERVERS = {
  "node:net": node("net-echo.ts", "raw node:net (socket.pipe)"),
  "socketkit Socket": node("socket-echo.ts", "socketkit Socket (recv/sendall)"),
  "socketkit TCPServer": node("tcpserver-echo.ts", "socketkit TCPServer (recv/sendall)"),
  // The same server with stream sockets on node:net instead of the addon's native I/O
  // path: what the native path adds, and what a machine without the addon gets.
  "socketkit TCPServer on node:net": {
    ...node("tcpserver-echo.ts", "socketkit TCPServer, node:net path (SOCKETKIT_NO_NATIVE_IO)"),
    env: { SOCKETKIT_NO_NATIVE_IO: "1" },
  },
  "socketkit StreamRequestHandler": node(
    "stream-handler-echo.ts",
    "socketkit TCPServer (StreamRequestHandler)",
  ),
  python: python("python_threading_echo.py", "Python ThreadingTCPServer"),
  asyncio: python("python_asyncio_echo.py", "Python asyncio"),
  socat: {
    name: "socat (fork per connection, PIPE)",
    command: "socat",
    args: ["TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,backlog=1024", "PIPE"],
    available: () =>
      spawnSync("socat", ["-V"]).error === undefined
        ? null
        : "socat is not installed (apt-get install -y socat)",
    portFromUs: true,
    forks: true,
  },
  bun: bun("bun-echo.ts", "Bun (Bun.listen, write in data)"),
  deno: deno("deno-echo.ts", "Deno (Deno.listen, read/write loop)"),
  "c epoll": compiled("epoll-echo", "C epoll echo (the limit)"),
  "node:dgram": node("dgram-echo.ts", "raw node:dgram"),
  "socketkit UDP Socket": node("socket-udp-echo.ts", "socketkit Socket (recvfrom/sendto)"),
  "socketkit UDPServer": node("udpserver-echo.ts", "socketkit UDPServer"),
  // The same server with datagram sockets on node:dgram instead of the native I/O path.
  "socketkit UDPServer on node:dgram": {
    ...node("udpserver-echo.ts", "socketkit UDPServer, node:dgram path (SOCKETKIT_NO_NATIVE_IO)"),
    env: { SOCKETKIT_NO_NATIVE_IO: "1" },
  },
  "python udp": python("python_udp_echo.py", "Python UDPServer"),
  "bun udp": bun("bun-udp-echo.ts", "Bun (Bun.udpSocket)"),
  "deno udp": deno("deno-udp-echo.ts", "Deno (Deno.listenDatagram)", ["--unstable-net"]),
  "c udp": compiled("udp-echo", "C UDP echo (the limit)"),
} satisfies Record<string, ServerSpec>;

type ServerKey = keyof typeof SERVERS;

/** A scenario's servers, and the ones its ratio columns divide by (label: server). */
interface ScenarioSpec {
  title: string;
  conns: number;
  size: number;
  udp: boolean;
  servers: ServerKey[];
  baselines: Record<string, ServerKey>;
  /** The C server that shows the limit. */
  limit: ServerKey;
}

export interface PingpongRow {
  scenario: string;
  key: ServerKey;
  server: string;
  /** Median round trips per second, and each run's. */
  median: number | null;
  runs: number[];
  /** Medians of the runs' latency percentiles, in microseconds, when the generator times. */
  p50Us: number | null;
  p99Us: number | null;
  /** UDP: datagrams lost over all runs (sent again after a timeout). */
  lost: number;
  /**
   * Medians of the runs: the server's CPU time (every thread) per round trip in
   * microseconds, and the server's and the generator's CPU seconds per second (1: a core).
   */
  serverCpuUs: number | null;
  serverBusy: number | null;
  clientBusy: number | null;
  /**
   * Median share of the machine's cores idle during the runs: near 0 with the server and
   * the generator below a core each, other work was running; the kernel's receive work for
   * the loopback (softirq) is counted in neither process's CPU time.
   */
  machineIdle: number | null;
  skipped?: string;
  /** This server's median divided by the first server's (raw node:net or node:dgram). */
  ratio?: number;
  /** This server's median divided by each baseline's: "node:net", "Bun", "Deno", "C"... */
  ratios: Record<string, number>;
}

export interface Target {
  scenario: string;
  /** What is divided by what, as the targets' list prints it. */
  what: string;
  value: number | null;
  goal: number;
  met: boolean | null;
  /** Why there is no value. */
  skipped?: string;
  /** The generator check, whose `what` says its value already. */
  generatorCheck?: true;
}

export interface PingpongResults {
  generator: string;
  /** Each runtime's version, or why it was skipped. */
  runtimes: Partial<Record<RuntimeName, string>>;
  scenarios: Array<{ spec: ScenarioSpec; rows: PingpongRow[] }>;
  targets: Target[];
}

/**
 * Runs one scenario against every server. The servers all start first and the runs are
 * interleaved (A, B, C, A, B, C, ...), so drift in a shared machine's speed falls on every
 * server alike instead of on whichever ran last.
 */
async function scenario(gen: LoadGenerator, spec: ScenarioSpec): Promise<PingpongRow[]> {
  const rows: PingpongRow[] = [];
  const live: Array<{
    row: PingpongRow;
    forks: boolean;
    pid: number;
    port: number;
    stop: () => Promise<void>;
  }> = [];
  type Run = Measurement & { serverBusy: number | null; machineIdle: number };
  const measured = new Map<PingpongRow, Run[]>();
  const run = { conns: spec.conns, size: spec.size, udp: spec.udp };
  try {
    for (const key of spec.servers) {
      const server: ServerSpec = SERVERS[key];
      const row: PingpongRow = {
        scenario: spec.title,
        key,
        server: server.name,
        median: null,
        runs: [],
        p50Us: null,
        p99Us: null,
        lost: 0,
        serverCpuUs: null,
        serverBusy: null,
        clientBusy: null,
        machineIdle: null,
        ratios: {},
      };
      rows.push(row);
      const why = server.available();
      if (why) {
        row.skipped = why;
        continue;
      }
      const started = await startServer(
        server.command,
        server.args,
        server.portFromUs ?? false,
        server.env ?? {},
      );
      live.push({ row, forks: server.forks ?? false, ...started });
      measured.set(row, []);
      await gen.run(started.port, { ...run, seconds: WARMUP });
    }
    for (let i = 0; i < RUNS; i++) {
      for (const { row, forks, pid, port } of live) {
        // The server's CPU over the whole client run: its connecting and warm-up are short
        // and loaded alike, so the share of a core is that of the measured seconds.
        const cpu = cpuSecondsOf(pid);
        const machine = machineTicks();
        const t = performance.now();
        const m = await gen.run(port, { ...run, seconds: SECONDS });
        const serverBusy = forks
          ? null
          : (cpuSecondsOf(pid) - cpu) / ((performance.now() - t) / 1000);
        const after = machineTicks();
        const machineIdle = (after.idle - machine.idle) / (after.total - machine.total || 1);
        row.runs.push(m.perSecond);
        row.lost += m.lost;
        measured.get(row)?.push({ ...m, serverBusy, machineIdle });
      }
    }
  } finally {
    await Promise.all(live.map((l) => l.stop()));
  }
  for (const row of rows) {
    if (row.runs.length === 0) continue;
    row.median = median(row.runs);
    const ms = measured.get(row) ?? [];
    const medianOf = (f: (m: Run) => number | null) => {
      const values = ms.flatMap((m) => {
        const v = f(m);
        return v === null || !Number.isFinite(v) ? [] : [v];
      });
      return values.length === 0 ? null : median(values);
    };
    row.p50Us = medianOf((m) => m.p50Us);
    row.p99Us = medianOf((m) => m.p99Us);
    row.serverBusy = medianOf((m) => m.serverBusy);
    row.serverCpuUs = medianOf((m) =>
      m.serverBusy !== null && m.perSecond > 0 ? (m.serverBusy / m.perSecond) * 1e6 : null,
    );
    row.clientBusy = medianOf((m) => m.clientBusy);
    row.machineIdle = medianOf((m) => m.machineIdle);
  }
  const first = rows[0]?.median;
  for (const row of rows) {
    if (row.median === null) continue;
    if (first) row.ratio = row.median / first;
    for (const [label, key] of Object.entries(spec.baselines)) {
      const base = rows.find((r) => r.key === key)?.median;
      if (base) row.ratios[label] = row.median / base;
    }
  }
  return rows;
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;

function scenarios(parts: { pingpong: boolean; udp: boolean }): ScenarioSpec[] {
  const tcp: ScenarioSpec[] = (parts.pingpong ? SETTINGS.pingpongConns : []).map((n) => ({
    title: `64-byte ping-pong, ${plural(n, "connection")}`,
    conns: n,
    size: 64,
    udp: false,
    servers: [
      "node:net",
      "socketkit Socket",
      "socketkit TCPServer",
      "socketkit TCPServer on node:net",
      "socketkit StreamRequestHandler",
      "python",
      "asyncio",
      "socat",
      "bun",
      "deno",
      "c epoll",
    ],
    baselines: { "node:net": "node:net", Bun: "bun", Deno: "deno", C: "c epoll" },
    limit: "c epoll",
  }));
  const udp: ScenarioSpec[] = (parts.udp ? SETTINGS.udpSockets : []).map((n) => ({
    title: `512-byte UDP echo, ${plural(n, "socket")}`,
    conns: n,
    size: 512,
    udp: true,
    servers: [
      "node:dgram",
      "socketkit UDP Socket",
      "socketkit UDPServer",
      "socketkit UDPServer on node:dgram",
      "python udp",
      "bun udp",
      "deno udp",
      "c udp",
    ],
    baselines: {
      "node:dgram": "node:dgram",
      Python: "python udp",
      Bun: "bun udp",
      Deno: "deno udp",
      C: "c udp",
    },
    limit: "c udp",
  }));
  return [...tcp, ...udp];
}

/** The issue's targets: a socketkit server's median over a baseline's, at least `goal`. */
const GOALS: Array<{ udp: boolean; conns: number; server: ServerKey; per: string; goal: number }> =
  [
    { udp: false, conns: 50, server: "socketkit TCPServer", per: "Bun", goal: 1.0 },
    { udp: false, conns: 50, server: "socketkit Socket", per: "Bun", goal: 1.0 },
    { udp: false, conns: 500, server: "socketkit TCPServer", per: "Bun", goal: 0.9 },
    { udp: false, conns: 500, server: "socketkit Socket", per: "Bun", goal: 0.9 },
    { udp: true, conns: 50, server: "socketkit UDPServer", per: "Python", goal: 1.2 },
    { udp: true, conns: 50, server: "socketkit UDPServer", per: "Bun", goal: 1.0 },
  ];

function targets(done: Array<{ spec: ScenarioSpec; rows: PingpongRow[] }>): Target[] {
  const out: Target[] = [];
  for (const { spec, rows } of done) {
    for (const g of GOALS.filter((x) => x.udp === spec.udp && x.conns === spec.conns)) {
      const row = rows.find((r) => r.key === g.server);
      const base = rows.find((r) => r.key === spec.baselines[g.per]);
      const value = row?.ratios[g.per] ?? null;
      const t: Target = {
        scenario: spec.title,
        what: `${row?.server ?? g.server} / ${base?.server ?? g.per}`,
        value,
        goal: g.goal,
        met: value === null ? null : value >= g.goal,
      };
      const skipped = row?.skipped ?? base?.skipped;
      if (value === null && skipped !== undefined) t.skipped = skipped;
      out.push(t);
    }
    // The generator check: the C echo, served by the same client, beats every other server.
    const limit = rows.find((r) => r.key === spec.limit);
    const fastest = rows
      .filter((r) => r.key !== spec.limit && r.median !== null)
      .reduce<PingpongRow | null>(
        (best, r) => (best === null || (r.median ?? 0) > (best.median ?? 0) ? r : best),
        null,
      );
    const factor = limit?.median && fastest?.median ? limit.median / fastest.median : null;
    // One connection has one message in flight: every round trip waits for the server's
    // and the client's wake-ups, which on a virtual machine take as long as the work, so
    // the C echo cannot be far ahead and the figure is shown, not checked.
    const checked = spec.conns > 1;
    out.push({
      scenario: spec.title,
      what: `the generator drives the C echo at ${fmt(limit?.median ?? null)} rt/s, ${factor === null ? "-" : factor.toFixed(2)} times the fastest other server (${fastest?.server ?? "none"})${checked ? "" : "; one connection waits on wake-ups, not checked"}`,
      value: factor,
      goal: GENERATOR_MARGIN,
      met: factor === null || !checked ? null : factor >= GENERATOR_MARGIN,
      generatorCheck: true,
      ...(factor === null && limit?.skipped !== undefined ? { skipped: limit.skipped } : {}),
    });
  }
  return out;
}

/**
 * Runs the ping-pong and UDP scenarios asked for. Outside a smoke run, Bun and Deno are
 * installed first if they are not there (`npm run bench:install`); a smoke run never
 * downloads them and reports them skipped.
 */
export async function pingpongBench(parts: {
  pingpong: boolean;
  udp: boolean;
}): Promise<PingpongResults> {
  const specs = scenarios(parts);
  if (specs.length === 0) return { generator: "", runtimes: {}, scenarios: [], targets: [] };
  if (!SETTINGS.smoke) installFailure = installRuntimes();
  const gen = loadGenerator();
  process.stderr.write(
    `load generator: ${gen.name}${gen.fallback ? ` (the C client cannot be built: ${gen.fallback})` : ""}\n`,
  );
  const done: Array<{ spec: ScenarioSpec; rows: PingpongRow[] }> = [];
  for (const spec of specs) {
    process.stderr.write(`running: ${spec.title}\n`);
    done.push({ spec, rows: await scenario(gen, spec) });
  }
  const version = (rt: RuntimeName) => {
    const r = runtime(rt);
    return "version" in r ? r.version : `skipped: ${r.missing}`;
  };
  return {
    generator: gen.name,
    runtimes: { bun: version("bun"), deno: version("deno") },
    scenarios: done,
    targets: targets(done),
  };
}

function fmt(n: number | null): string {
  return n === null ? "-" : Math.round(n).toLocaleString("en-US");
}

/** Prints the table of each scenario, its ratio columns, then the targets. */
export function printPingpong(r: PingpongResults): void {
  if (r.scenarios.length === 0) return;
  console.log(
    `\nround trips per second, median of ${RUNS} runs of ${SECONDS} s; load generator: ${r.generator}`,
  );
  console.log(`Bun ${r.runtimes.bun}, Deno ${r.runtimes.deno}`);
  console.log(
    "srv µs/rt: the server's CPU time per round trip; srv cpu, gen cpu: the server's and the generator's CPU seconds per second (1.00: a core, the loopback's softirq work not counted); idle: the machine's idle share",
  );
  console.log("/ X: this server's median over X's\n");
  for (const { spec, rows } of r.scenarios) {
    const labels = Object.keys(spec.baselines);
    console.log(
      `${spec.title.padEnd(44)} ${"median rt/s".padStart(12)} ${"p50 µs".padStart(8)} ${"p99 µs".padStart(8)} ${"srv µs/rt".padStart(10)} ${"srv cpu".padStart(8)} ${"gen cpu".padStart(8)} ${"idle".padStart(5)}${labels.map((l) => ` ${`/ ${l}`.padStart(11)}`).join("")}`,
    );
    for (const row of rows) {
      if (row.median === null) {
        console.log(`  ${row.server.padEnd(42)} skipped: ${row.skipped}`);
        continue;
      }
      const lat = (v: number | null) => (v === null ? "-" : v.toFixed(0)).padStart(8);
      const cpu = (v: number | null, width: number, digits: number) =>
        (v === null ? "-" : v.toFixed(digits)).padStart(width);
      const ratios = labels
        .map((l) => {
          const v = row.ratios[l];
          return ` ${(v === undefined ? "-" : `${v.toFixed(2)}x`).padStart(11)}`;
        })
        .join("");
      const lost = row.lost > 0 ? `  (${row.lost} lost)` : "";
      console.log(
        `  ${row.server.padEnd(42)} ${fmt(row.median).padStart(12)} ${lat(row.p50Us)} ${lat(row.p99Us)} ${cpu(row.serverCpuUs, 10, 2)} ${cpu(row.serverBusy, 8, 2)} ${cpu(row.clientBusy, 8, 2)} ${cpu(row.machineIdle, 5, 2)}${ratios}${lost}`,
      );
    }
    console.log("");
  }
  console.log("targets (a socketkit server over a baseline; the generator check)\n");
  for (const t of r.targets) {
    const mark = t.met === null ? "-" : t.met ? "✓" : "✗";
    const value =
      t.value === null
        ? `: skipped: ${t.skipped ?? "no figure"}`
        : t.generatorCheck
          ? ""
          : `: ${t.value.toFixed(2)}x`;
    console.log(`  ${mark} ${t.scenario}: ${t.what}${value} (goal >= ${t.goal.toFixed(1)}x)`);
  }
}
