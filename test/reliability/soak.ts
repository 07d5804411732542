/**
 * A bounded soak: real `socketkit` servers (`serve echo`, `chat serve`, `share`, and a
 * `receive` per transfer) behind fault proxies whose faults change at random, and mixed
 * clients running at once for SOAK_SECONDS (300): echo sessions checked byte for byte,
 * chat rounds whose members check each other's lines, and transfers of random files of a
 * few MB, each checked against its SHA-256 and, when a fault cut it, rerun and checked to
 * resume. A share of the clients goes directly to the servers, to show that the service
 * itself is unaffected. Afterwards it checks the servers (alive, exit 0 on SIGTERM within
 * their grace period, descriptors and memory back within stated bounds) and prints a
 * summary; it exits 1 if a check fails.
 *
 * Run: `npm run soak`, or `SOAK_SECONDS=20 SOAK_SEED=123 tsx test/reliability/soak.ts`.
 * The seed (printed) replays the fault schedule and every random choice of the clients;
 * the interleaving of a real network cannot be replayed.
 */
import { randomInt } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fdCount, rssOf } from "../helpers/proc.ts";
import { CliProcess, STOP_GRACE_MS } from "./lib/cli-process.ts";
import { FaultProxy } from "./lib/fault-proxy.ts";
import { type FaultKind, FaultRoute, type RouteScale } from "./lib/fault-route.ts";
import { SeededRandom } from "./lib/seeded-random.ts";
import { MiB } from "./lib/server-process.ts";
import { chatRound } from "./lib/soak-chat.ts";
import { echoSession, type Target } from "./lib/soak-echo.ts";
import { SoakTally } from "./lib/soak-tally.ts";
import {
  fetchWorker,
  makeSource,
  sendWorker,
  type TransferContext,
  waitUntil,
} from "./lib/soak-transfers.ts";

/** Seconds of traffic. */
const SECONDS = Number(process.env.SOAK_SECONDS ?? 300);
const SEED = process.env.SOAK_SEED ? Number(process.env.SOAK_SEED) : randomInt(2 ** 31);

/** A server's descriptors after the clients closed may exceed the start by this many. */
const FD_BOUND = 10;
/** A server's RSS at the end may exceed the highest RSS of its warm-up by this much. */
const RSS_BOUND = 50 * MiB;
/**
 * The servers' young generation, fixed in size. V8 grows it under a high allocation rate,
 * by doubling, up to 32-64 MiB on Node.js 24 (seen: 8 -> 40 MiB after the warm-up, the
 * old generation flat): RSS that no retained object explains, and that would make the
 * memory check judge V8's sizing instead of what the server keeps.
 */
const SERVER_NODE_ARGS = ["--min-semi-space-size=16", "--max-semi-space-size=16"];
/**
 * Seconds of traffic before the memory baseline is taken: half of a short run, 60 s of a
 * long one. A server's RSS climbs to a plateau set by the bytes in flight at the busiest
 * moment (the allocator keeps freed pages: seen on Node.js 24, 102 MiB at 2 s, 133 at 20 s,
 * 146 from 44 s to the end of a 90 s run, the JS heap flat), so a baseline taken too early
 * measures how soon the traffic peaked, not what the server keeps.
 */
const WARMUP = Math.min(60, Math.max(3, SECONDS * 0.5));
/** Share of clients that go directly to the servers. */
const DIRECT_SHARE = 0.15;
/** Clients at once: echo sessions and chat rounds (plus one fetch and one send). */
const ECHO_WORKERS = 4;
const CHAT_WORKERS = 2;
/** A client that hears nothing for this long gives up (an error, expected under faults). */
const ECHO_IDLE_MS = 8000;
const CHAT_IDLE_MS = 5000;
/** `--timeout` of the transfer commands, in seconds. */
const TRANSFER_TIMEOUT = 5;
/** Longest the clients may take to finish once the traffic stops. */
const DRAIN_MS = 90_000;

/** The fault ranges of each route; a transfer route's offsets span its files. */
const SCALES: Record<string, RouteScale> = {
  echo: {
    maxOffset: 100_000,
    bandwidth: [16_000, 2_000_000],
    latency: [1, 200],
    sliceOneMaxMs: 2500,
  },
  chat: { maxOffset: 3000, bandwidth: [2000, 64_000], latency: [1, 300], sliceOneMaxMs: 2500 },
  transfer: {
    maxOffset: 4 * MiB,
    bandwidth: [256_000, 8_000_000],
    latency: [1, 100],
    sliceOneMaxMs: 800,
    // A file crosses loopback in a fraction of a second: cuts and resets come more often
    // here, so that many transfers are cut mid-way and have to resume.
    weights: { none: 12, latency: 8, slice: 5, bandwidth: 12, cut: 22, reset: 22, drop: 6 },
  },
};

const mib = (bytes: number) => (bytes / MiB).toFixed(1);
const say = (line: string) => process.stderr.write(`soak: ${line}\n`);

/** A long-running server and what is measured of it. */
interface Server {
  name: string;
  process: CliProcess;
  port: number;
  route: FaultRoute;
  startFds: number;
  /** The highest RSS sampled by the end of the warm-up. */
  warmRss: number | null;
  peakRss: number;
}

async function startServer(
  name: string,
  args: string[],
  random: SeededRandom,
  scale: RouteScale,
): Promise<Server> {
  const program = CliProcess.start(args, SERVER_NODE_ARGS);
  const port = await program.listening();
  const route = new FaultRoute(name, random.fork(`faults of ${name}`), scale);
  route.add(await FaultProxy.start(["127.0.0.1", port]));
  return {
    name,
    process: program,
    port,
    route,
    startFds: fdCount(program.pid),
    warmRss: null,
    peakRss: rssOf(program.pid),
  };
}

/** Runs `step` until `stopping()`; a throw is an unexpected error, and the loop goes on. */
async function loop(
  what: string,
  tally: SoakTally,
  stopping: () => boolean,
  step: () => Promise<void>,
): Promise<void> {
  while (!stopping()) {
    try {
      await step();
    } catch (err) {
      tally.unexpected(what, `the client itself failed: ${(err as Error).stack ?? err}`);
    }
  }
}

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

async function main(): Promise<number> {
  const started = performance.now();
  say(
    `seed ${SEED} (SOAK_SEED=${SEED} replays the fault schedule), ${SECONDS} s, warm-up ${WARMUP} s`,
  );
  const random = new SeededRandom(SEED);
  const tally = new SoakTally();
  const workDir = mkdtempSync(join(tmpdir(), "socketkit-soak-"));
  const shareDir = join(workDir, "share");
  mkdirSync(shareDir);
  const fileRandom = random.fork("the shared file");
  const shareSource = makeSource(shareDir, fileRandom, fileRandom.int(2 * MiB, 4 * MiB + 1));
  const timeout = String(TRANSFER_TIMEOUT);

  let interrupted = false;
  let endTraffic = () => {};
  const trafficOver = new Promise<void>((resolve) => {
    endTraffic = resolve;
  });
  // A first SIGINT or SIGTERM ends the traffic early (the checks still run, and fail);
  // a second one exits at once, the servers killed on the way out.
  const onSignal = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    say("interrupted: stopping the traffic");
    endTraffic();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const servers = await Promise.all([
    startServer("echo", ["serve", "echo", "--port", "0"], random, SCALES.echo as RouteScale),
    startServer(
      "chat",
      ["chat", "serve", "--port", "0", "--max-per-host", "100000"],
      random,
      SCALES.chat as RouteScale,
    ),
    startServer("share", ["share", shareSource.path, "--port", "0", "--timeout", timeout], random, {
      ...(SCALES.transfer as RouteScale),
      maxOffset: shareSource.data.length,
      dataDirection: "downstream",
    }),
  ]);
  const [echo, chat, share] = servers as [Server, Server, Server];
  const sendRoute = new FaultRoute("send", random.fork("faults of send"), {
    ...(SCALES.transfer as RouteScale),
    dataDirection: "upstream",
  });
  const routes = [echo.route, chat.route, share.route, sendRoute];
  say(
    `servers: serve echo pid ${echo.process.pid} port ${echo.port}, chat serve pid ${chat.process.pid} port ${chat.port}, share pid ${share.process.pid} port ${share.port}`,
  );

  const trafficStart = performance.now();
  const deadline = trafficStart + SECONDS * 1000;
  const stopping = () => interrupted || performance.now() >= deadline;

  // Processes of transfer attempts: any that ends other than with 0 or 1 crashed.
  let attemptProcesses = 0;
  let attemptCrashes = 0;
  const onProcess = (p: CliProcess) => {
    attemptProcesses++;
    void p.exited.then((e) => {
      if (e.code !== 0 && e.code !== 1) attemptCrashes++;
    });
  };

  // A server that dies ends the traffic: what follows would only be refused connections.
  for (const s of servers) {
    void s.process.exited.then((exit) => {
      if (stopping()) return;
      say(`${s.name} exited during the soak (${exit.code ?? exit.signal}): ending the traffic`);
      endTraffic();
    });
  }
  for (const route of routes) route.start();
  let driverPeakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    driverPeakRss = Math.max(driverPeakRss, process.memoryUsage.rss());
    for (const s of servers)
      if (s.process.running) s.peakRss = Math.max(s.peakRss, rssOf(s.process.pid));
  }, 1000);
  const warmup = setTimeout(() => {
    // The baseline is the highest RSS seen by the end of the warm-up, not one sample: RSS
    // saws up and down by 30-50 MiB as buffers die and the collector runs (seen: share
    // 83 -> 117 -> 87 MiB within 15 s, flat over 120 s), so a sample taken in a trough
    // against one taken near a crest would report a leak that is not there.
    for (const s of servers)
      if (s.process.running) s.warmRss = Math.max(s.peakRss, rssOf(s.process.pid));
    say(
      `warm-up over: highest RSS ${servers.map((s) => `${s.name} ${mib(s.warmRss ?? 0)} MiB`).join(", ")}`,
    );
  }, WARMUP * 1000);
  const progressEvery = Math.min(30, Math.max(5, SECONDS / 4)) * 1000;
  const progress = setInterval(() => {
    const t = Math.round((performance.now() - trafficStart) / 1000);
    say(
      `${t} s: ${tally.get("echo exchanges verified")} echo exchanges, ${tally.get("chat rounds")} chat rounds, ${tally.get("transfers completed")} transfers, ${routes.reduce((n, r) => n + r.faultCount, 0)} faults, ${tally.expectedTotal} expected errors, ${tally.unexpectedTotal} unexpected`,
    );
  }, progressEvery);

  const target = (s: Server, r: SeededRandom): Target =>
    r.chance(DIRECT_SHARE)
      ? { port: s.port, route: null }
      : { port: (s.route.proxies()[0] as FaultProxy).port, route: s.route };
  const ctx: TransferContext = {
    tally,
    workDir,
    timeout: TRANSFER_TIMEOUT,
    directShare: DIRECT_SHARE,
    stopping,
    onProcess,
  };
  const workers: Promise<void>[] = [];
  for (let i = 0; i < ECHO_WORKERS; i++) {
    const r = random.fork(`echo client ${i}`);
    workers.push(
      loop("echo", tally, stopping, () => echoSession(target(echo, r), r, tally, ECHO_IDLE_MS)),
    );
  }
  for (let i = 0; i < CHAT_WORKERS; i++) {
    const r = random.fork(`chat client ${i}`);
    const options = {
      serverPort: chat.port,
      route: chat.route,
      directShare: DIRECT_SHARE,
      idleMs: CHAT_IDLE_MS,
    };
    workers.push(loop("chat", tally, stopping, () => chatRound(options, r, tally)));
  }
  const shared = { port: share.port, route: share.route, source: shareSource };
  workers.push(
    loop("fetch", tally, stopping, () => fetchWorker(shared, random.fork("fetch"), ctx)),
    loop("send", tally, stopping, () => sendWorker(sendRoute, random.fork("send"), ctx)),
  );

  // The end of the traffic: every fault off, and every proxied connection reset, so that
  // clients waiting on a stalled or half-open connection fail now (as expected) instead
  // of when they time out; jobs under way then finish on a clean network.
  const end = setTimeout(endTraffic, SECONDS * 1000);
  await trafficOver;
  clearTimeout(end);
  clearTimeout(warmup);
  clearInterval(progress);
  for (const route of routes) {
    route.stop();
    route.resetAll();
  }
  say("traffic over: faults off, proxied connections reset; waiting for the clients to finish");
  const drained = await Promise.race([
    Promise.all(workers).then(() => true),
    new Promise<false>((resolve) => setTimeout(() => resolve(false), DRAIN_MS).unref()),
  ]);
  if (!drained) tally.unexpected("soak", `clients still running ${DRAIN_MS} ms after the end`);
  const proxiesIdle = await waitUntil(
    () => routes.every((r) => r.proxies().every((p) => p.counters.open === 0)),
    10_000,
    20,
  );
  if (!proxiesIdle) tally.unexpected("soak", "proxied connections still open 10 s after the end");
  clearInterval(sampler);
  for (const s of servers)
    if (s.warmRss === null && s.process.running) s.warmRss = rssOf(s.process.pid);

  // Descriptors: once every client is gone, each server is back to (about) where it began.
  const endFds = new Map<Server, number>();
  for (const s of servers) {
    if (!s.process.running) continue;
    await waitUntil(() => fdCount(s.process.pid) <= s.startFds + FD_BOUND, 5000, 20);
    endFds.set(s, fdCount(s.process.pid));
  }
  const endRss = new Map<Server, number>();
  for (const s of servers) if (s.process.running) endRss.set(s, rssOf(s.process.pid));
  const aliveAtEnd = servers.map((s) => s.process.running);
  const stops = await Promise.all(servers.map((s) => s.process.stop(STOP_GRACE_MS)));
  for (const route of routes) for (const p of route.proxies()) await p.close();
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);

  // ------------------------------------------------------------------ checks
  const checks: Check[] = [];
  const crashed = servers
    .map((s, i) => {
      const st = stops[i] as (typeof stops)[number];
      if (!aliveAtEnd[i]) {
        return `${s.name} died during the soak (${st.code ?? st.signal}): ${s.process.stderr().slice(-1500)}`;
      }
      if (st.code !== 0 || !st.inTime) {
        return `${s.name} ended with ${st.code ?? st.signal}${st.inTime ? "" : ` only after SIGKILL (${STOP_GRACE_MS} ms)`}`;
      }
      return null;
    })
    .filter((x) => x !== null);
  checks.push({
    name: "crashes",
    ok: crashed.length === 0 && attemptCrashes === 0,
    detail:
      crashed.length > 0
        ? crashed.join("; ")
        : `3 servers alive to the end, each exited 0 on SIGTERM within ${STOP_GRACE_MS / 1000} s (${servers.map((s, i) => `${s.name} ${((stops[i]?.ms ?? 0) / 1000).toFixed(2)} s`).join(", ")}); ${attemptCrashes} of ${attemptProcesses} fetch/send/receive processes crashed`,
  });
  checks.push({
    name: "handles",
    ok: servers.every((s) => (endFds.get(s) ?? Number.POSITIVE_INFINITY) <= s.startFds + FD_BOUND),
    detail: `open fds at start -> after the clients closed (bound: start + ${FD_BOUND}): ${servers.map((s) => `${s.name} ${s.startFds} -> ${endFds.get(s) ?? "gone"}`).join(", ")}`,
  });
  checks.push({
    name: "memory",
    ok: servers.every(
      (s) => (endRss.get(s) ?? Number.POSITIVE_INFINITY) - (s.warmRss ?? 0) <= RSS_BOUND,
    ),
    detail: `highest RSS in the ${WARMUP} s warm-up -> at the end (bound: +${RSS_BOUND / MiB} MiB): ${servers
      .map((s) => {
        const end = endRss.get(s);
        if (end === undefined) return `${s.name} gone`;
        const d = end - (s.warmRss ?? 0);
        return `${s.name} ${mib(s.warmRss ?? 0)} -> ${mib(end)} MiB (${d >= 0 ? "+" : ""}${mib(d)}, peak ${mib(s.peakRss)})`;
      })
      .join(", ")}`,
  });
  const completed = tally.get("transfers completed");
  const verified = tally.get("transfers hash-verified");
  const mismatches = tally.get("transfer hash mismatches");
  checks.push({
    name: "transfers",
    ok: completed > 0 && verified === completed && mismatches === 0,
    detail: `${completed} completed, ${verified} hash-verified, ${mismatches} mismatches`,
  });
  const stacks = servers.filter((s) => s.process.stackLines > 0);
  checks.push({
    name: "server logs",
    ok: stacks.length === 0,
    detail:
      stacks.length === 0
        ? "no stack trace in any server's stderr"
        : stacks.map((s) => `${s.name}: ${s.process.firstStack}`).join(" | "),
  });
  const coverage = [
    "echo exchanges verified",
    "chat deliveries verified",
    "fetch attempts",
    "send attempts",
  ].filter((k) => tally.get(k) === 0);
  checks.push({
    name: "coverage",
    ok: coverage.length === 0 && routes.every((r) => r.faultCount > 0),
    detail:
      coverage.length === 0
        ? "every kind of client ran, and every route had faults"
        : `nothing done: ${coverage.join(", ")}`,
  });
  checks.push({
    name: "unexpected errors",
    ok: tally.unexpectedTotal === 0 && !interrupted,
    detail: interrupted
      ? "the soak was interrupted"
      : `${tally.unexpectedTotal}${tally.unexpectedExamples.length > 0 ? `: ${tally.unexpectedExamples.join(" | ")}` : ""}`,
  });
  rmSync(workDir, { recursive: true, force: true });

  // ------------------------------------------------------------------ summary
  const passed = checks.every((c) => c.ok);
  const n = (k: string) => tally.get(k);
  const faults: Partial<Record<FaultKind, number>> = {};
  for (const route of routes) {
    for (const [kind, count] of Object.entries(route.injected) as [FaultKind, number][]) {
      if (kind !== "none") faults[kind] = (faults[kind] ?? 0) + count;
    }
  }
  const faultTotal = routes.reduce((sum, r) => sum + r.faultCount, 0);
  const out: string[] = [
    `socketkit soak: ${SECONDS} s of mixed traffic through fault proxies, seed ${SEED} (SOAK_SEED=${SEED} to replay), ${availableParallelism()} cores, ${((performance.now() - started) / 1000).toFixed(1)} s in all`,
    `servers: serve echo, chat serve, share (a ${shareSource.data.length}-byte file), and a receive per send attempt; the soak's own peak RSS ${mib(driverPeakRss)} MiB`,
    "operations:",
    `  echo: ${n("echo sessions completed") + n("echo sessions completed direct")} sessions completed (${n("echo sessions completed direct")} direct), ${n("echo exchanges verified")} exchanges, ${mib(n("echo bytes verified"))} MiB echoed and checked byte for byte`,
    `  chat: ${n("chat rounds")} rounds, ${n("chat members") + n("chat members direct")} members (${n("chat members direct")} direct), ${n("chat lines sent")} lines sent, ${n("chat deliveries verified")} deliveries checked, ${n("chat deliveries lost under faults")} lost under faults`,
    `  transfers: ${completed} completed, ${verified} of them hash-verified (${mismatches} mismatches), ${n("transfers resumed")} finished by a rerun that resumed a partial file; ${n("fetch attempts")} fetch attempts (${n("fetch attempts direct")} direct), ${n("send attempts")} send attempts (${n("send attempts direct")} direct), ${n("transfer attempts interrupted")} interrupted (${n("receives stopped while waiting for another sender")} receives left waiting for another sender after a failed handshake, stopped by SIGTERM with exit 0); ${mib(n("transfer bytes"))} MiB moved by completing runs`,
    `faults injected: ${faultTotal} (${routes.map((r) => `${r.name} ${r.faultCount}`).join(", ")}): ${Object.entries(
      faults,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}; then every proxied connection reset at the end`,
    `client errors under faults (expected): ${tally.expectedTotal}`,
    ...[...tally.expectedErrors.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([k, v]) => `  ${v} x ${k}`),
    `unexpected errors: ${tally.unexpectedTotal}`,
    ...tally.unexpectedExamples.map((e) => `  ${e}`),
    "checks:",
    ...checks.map((c) => `  ${c.ok ? "PASS" : "FAIL"} ${c.name}: ${c.detail}`),
    `result: ${passed ? "PASS" : "FAIL"}`,
  ];
  process.stdout.write(`${out.join("\n")}\n`);
  const result = {
    seed: SEED,
    seconds: SECONDS,
    passed,
    checks,
    unexpected: tally.unexpectedTotal,
    expected: tally.expectedTotal,
    faults: faultTotal,
    ops: Object.fromEntries(tally.ops),
  };
  process.stdout.write(`SOAK_RESULT ${JSON.stringify(result)}\n`);
  return passed ? 0 : 1;
}

main().then(
  // Everything is closed by now; should a handle remain, it must not keep the soak alive.
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`soak: failed to run: ${(err as Error).stack ?? err}\n`);
    process.exit(2);
  },
);
