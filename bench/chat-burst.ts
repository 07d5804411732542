/**
 * Chat burst: N members in a `socketkit chat serve` room (a child process, default rate
 * limit) each send one line at the same moment, so the server has N × (N − 1) deliveries
 * to make at once (a million at 1,000 members). Each line is timed from its send until the
 * last of the other members has it: p50, p99 and max over the lines of every burst, and
 * the server's CPU time per delivery. Meanwhile a probe member in a process of its own
 * sends a line every 250 ms (under the limit of 5 a second) and times each one until a
 * second connection of its own has it (its round trip through the room); any of its lines
 * refused as "too many messages" is counted: there should be none.
 *
 *   npx tsx bench/chat-burst.ts [MEMBERS] [BURSTS]     # default: 1000 5
 *
 * BENCH_BURST_WEB=1 joins the members through the chat's WebSocket (`--web-port`) instead
 * of TCP, one text message per line each way (the probe stays on TCP).
 *
 * BENCH_CPU_PROF=DIR runs the server under `node --cpu-prof` and writes its profile there.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";
import { cpuSecondsOf, freePort, percentile, SETTINGS, socketkitCli, startServer } from "./lib.ts";

/** What a run of bursts measured. */
export interface BurstResult {
  members: number;
  /** The members' way in: TCP, or the web page's WebSocket. */
  over: "tcp" | "websocket";
  bursts: number;
  /** From a line's send until the last other member had it, over every line: ms. */
  p50: number;
  p99: number;
  max: number;
  /** From a burst's first send until every line of it was everywhere, median of bursts: ms. */
  burstMs: number;
  /** The server's CPU time (user and system) per delivery, median of bursts: µs. */
  cpuPerDelivery: number;
  /** The members' side (this process) likewise: what the machine's two cores also do. */
  clientCpuPerDelivery: number;
  probe: ProbeResult;
}

/** The probe member's lines, sent every 250 ms through the bursts. */
export interface ProbeResult {
  sent: number;
  /** Round trips (send to its own second connection's receipt), ms. */
  p50: number;
  p99: number;
  max: number;
  /** Its lines refused as too many messages. */
  refused: number;
  /** Its lines that never came back (within 10 s of the last). */
  lost: number;
}

/** Member i's nickname: fixed width, so that every burst line has its sender at one offset. */
const nickOf = (i: number) => `b${String(i).padStart(5, "0")}`;
/** "[HH:MM:SS] <b00042> ..." : the sender's number is at bytes 13-17. */
const NICK_AT = 11;
const LT = "<".charCodeAt(0);
const GT = ">".charCodeAt(0);
const B = "b".charCodeAt(0);
const LF = 10;

/** The sender of a burst line (bytes `start` to `end` of `buf`), or -1 for any other line. */
function senderOf(buf: Buffer, start: number, end: number): number {
  if (end - start < NICK_AT + 9) return -1;
  const at = start + NICK_AT;
  if (buf[at] !== LT || buf[at + 1] !== B || buf[at + 7] !== GT) return -1;
  let n = 0;
  for (let k = at + 2; k < at + 7; k++) {
    const d = (buf[k] as number) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

const PROBE_MS = 250;

/**
 * The probe (run as a child process of this file): `probe` sends `p<i>` every 250 ms from
 * "go" on stdin until "stop", `probeeye` reads them; then prints what it measured.
 */
async function probeMain(port: number): Promise<void> {
  const say = (m: object) => process.stdout.write(`${JSON.stringify(m)}\n`);
  const join = (nick: string, onText: (text: string) => void) =>
    new Promise<Socket>((resolve, reject) => {
      const s = connect({ port, host: "127.0.0.1" }, () => s.write(`${nick}\r\n`));
      let text = "";
      let named = false;
      s.on("error", reject);
      s.on("data", (d: Buffer) => {
        if (named) {
          onText(d.toString("latin1"));
          return;
        }
        text += d.toString("latin1");
        if (text.includes(`You are ${nick}.`)) {
          named = true;
          resolve(s);
        }
      });
    });
  const sentAt: number[] = [];
  const rtts: number[] = [];
  let refused = 0;
  let eyeText = "";
  let onBack: (() => void) | null = null;
  const eye = await join("probeeye", (t) => {
    const now = performance.now();
    eyeText += t;
    const lines = eyeText.split("\n");
    eyeText = lines.pop() as string;
    for (const line of lines) {
      const m = /^\[\d\d:\d\d:\d\d\] <probe> p(\d+)\r$/.exec(line);
      if (m === null) continue;
      const i = Number(m[1]);
      rtts[i] = now - (sentAt[i] as number);
    }
    onBack?.();
  });
  let probeText = "";
  const probe = await join("probe", (t) => {
    probeText += t;
    const lines = probeText.split("\n");
    probeText = lines.pop() as string;
    for (const line of lines) if (line.includes("too many messages")) refused++;
  });
  say({ joined: true });
  let timer: NodeJS.Timeout | null = null;
  let input = "";
  process.stdin.on("data", async (d: Buffer) => {
    input += d.toString();
    if (input.includes("go") && timer === null) {
      input = input.replace("go", "");
      timer = setInterval(() => {
        sentAt.push(performance.now());
        probe.write(`p${sentAt.length - 1}\r\n`);
      }, PROBE_MS);
    }
    if (input.includes("stop") && timer !== null) {
      clearInterval(timer);
      // Every line back, or 10 s.
      const all = () => rtts.filter((x) => x !== undefined).length >= sentAt.length;
      await new Promise<void>((resolve) => {
        const give = setTimeout(resolve, 10_000);
        onBack = () => {
          if (all()) {
            clearTimeout(give);
            resolve();
          }
        };
        onBack();
      });
      const back = rtts.filter((x) => x !== undefined).sort((a, b) => a - b);
      say({
        sent: sentAt.length,
        p50: percentile(back, 50),
        p99: percentile(back, 99),
        max: back[back.length - 1] ?? Number.NaN,
        refused,
        lost: sentAt.length - back.length,
      } satisfies ProbeResult);
      probe.destroy();
      eye.destroy();
      process.exit(0);
    }
  });
}

/** Starts the probe and resolves once both of its connections are in the room. */
async function startProbe(port: number): Promise<{
  go: () => void;
  stop: () => Promise<ProbeResult>;
  child: ChildProcess;
}> {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
    env: { ...process.env, SOCKETKIT_BENCH_PROBE: String(port) },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const messages: object[] = [];
  let wake: (() => void) | null = null;
  let out = "";
  child.stdout?.on("data", (c: Buffer) => {
    out += c.toString();
    for (let nl = out.indexOf("\n"); nl !== -1; nl = out.indexOf("\n")) {
      messages.push(JSON.parse(out.slice(0, nl)) as object);
      out = out.slice(nl + 1);
      wake?.();
    }
  });
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code) => reject(new Error(`the probe exited (${code})`))),
  );
  exited.catch(() => {});
  const next = () =>
    Promise.race([
      new Promise<object>((resolve) => {
        const take = () => {
          const m = messages.shift();
          if (m === undefined) return false;
          wake = null;
          resolve(m);
          return true;
        };
        if (!take()) wake = take;
      }),
      exited,
    ]);
  await next();
  return {
    child,
    go: () => child.stdin?.write("go\n"),
    stop: async () => {
      child.stdin?.write("stop\n");
      return (await next()) as ProbeResult;
    },
  };
}

export async function chatBurst(
  members: number,
  bursts = SETTINGS.burstRounds,
  web = process.env.BENCH_BURST_WEB === "1",
): Promise<BurstResult> {
  const webPort = web ? await freePort() : 0;
  const server = await startServer(process.execPath, [
    ...socketkitCli,
    "chat",
    "serve",
    "--port",
    "0",
    "--max-clients",
    String(members + 10),
    // every member is on 127.0.0.1
    "--max-per-host",
    String(members + 10),
    ...(web ? ["--web-port", String(webPort), "--web-max-per-address", String(members + 10)] : []),
  ]);
  const port = server.port;
  /** Each member's way to send a line. */
  const send: ((line: string) => void)[] = [];
  const closers: (() => void)[] = [];
  let probe: Awaited<ReturnType<typeof startProbe>> | null = null;
  try {
    // Per burst: how many members have each line, and when the last one had it.
    let got = new Int32Array(members);
    let doneAt = new Float64Array(members);
    let left = members;
    let onDone: (() => void) | null = null;
    /** A line (bytes `start` to `end` of `buf`) that member i has been sent. */
    const count = (i: number, buf: Buffer, start: number, end: number, now: number) => {
      const j = senderOf(buf, start, end);
      if (j < 0 || j >= members || j === i) return;
      const n = ++(got[j] as number);
      if (n === members - 1) {
        doneAt[j] = now;
        if (--left === 0) onDone?.();
      }
    };
    const carry: (Buffer | null)[] = new Array(members).fill(null);
    const receive = (i: number, chunk: Buffer) => {
      const now = performance.now();
      let buf = chunk;
      const rest = carry[i];
      if (rest !== null && rest !== undefined) {
        buf = Buffer.concat([rest, chunk]);
        carry[i] = null;
      }
      let start = 0;
      for (let nl = buf.indexOf(LF, start); nl !== -1; nl = buf.indexOf(LF, start)) {
        count(i, buf, start, nl, now);
        start = nl + 1;
      }
      if (start < buf.length) carry[i] = Buffer.from(buf.subarray(start));
    };
    const joinTcp = (i: number) =>
      new Promise<void>((resolve, reject) => {
        const nick = nickOf(i);
        const s = connect({ port, host: "127.0.0.1" }, () => s.write(`${nick}\r\n`));
        send[i] = (line) => s.write(`${line}\r\n`);
        closers.push(() => s.destroy());
        let text = "";
        let named = false;
        s.on("error", reject);
        s.on("data", (chunk: Buffer) => {
          if (named) {
            receive(i, chunk);
            return;
          }
          text += chunk.toString("latin1");
          const at = text.indexOf(`You are ${nick}.`);
          if (at === -1) return;
          named = true;
          // What follows the nickname's line, if anything, is the start of the traffic.
          const nl = text.indexOf("\n", at);
          if (nl !== -1 && nl + 1 < text.length) {
            carry[i] = Buffer.from(text.slice(nl + 1), "latin1");
          }
          resolve();
        });
      });
    const joinWeb = (i: number) =>
      new Promise<void>((resolve, reject) => {
        const nick = nickOf(i);
        const ws = new WebSocket(`ws://127.0.0.1:${webPort}/ws`);
        send[i] = (line) => ws.send(line);
        closers.push(() => ws.terminate());
        let named = false;
        ws.on("error", reject);
        ws.on("open", () => ws.send(nick));
        // One message per line, without its line end.
        ws.on("message", (data: Buffer) => {
          if (named) count(i, data, 0, data.length, performance.now());
          else if (data.includes(`You are ${nick}.`)) {
            named = true;
            resolve();
          }
        });
      });
    for (let first = 0; first < members; first += 200) {
      const batch = Array.from({ length: Math.min(200, members - first) }, (_, k) => first + k);
      await Promise.all(batch.map(web ? joinWeb : joinTcp));
    }
    probe = await startProbe(port);
    probe.go();
    // The probe's first lines go through a quiet room.
    await new Promise((r) => setTimeout(r, 1000));
    const latencies: number[] = [];
    const burstTimes: number[] = [];
    const cpu: number[] = [];
    const clientCpu: number[] = [];
    const sentAt = new Float64Array(members);
    for (let b = 0; b < bursts; b++) {
      got = new Int32Array(members);
      doneAt = new Float64Array(members);
      left = members;
      const all = new Promise<void>((resolve, reject) => {
        const limit = setTimeout(() => {
          const missing = Array.from(got).filter((n) => n < members - 1).length;
          reject(new Error(`burst ${b}: ${missing} lines had not reached everyone after 120 s`));
        }, 120_000);
        onDone = () => {
          clearTimeout(limit);
          resolve();
        };
      });
      const cpuBefore = cpuSecondsOf(server.pid);
      const clientBefore = process.cpuUsage();
      for (let i = 0; i < members; i++) {
        sentAt[i] = performance.now();
        (send[i] as (line: string) => void)(`burst ${b}`);
      }
      await all;
      const deliveries = members * (members - 1);
      cpu.push(((cpuSecondsOf(server.pid) - cpuBefore) * 1e6) / deliveries);
      const client = process.cpuUsage(clientBefore);
      clientCpu.push((client.user + client.system) / deliveries);
      let last = 0;
      for (let j = 0; j < members; j++) {
        latencies.push((doneAt[j] as number) - (sentAt[j] as number));
        last = Math.max(last, doneAt[j] as number);
      }
      burstTimes.push(last - (sentAt[0] as number));
      // Between bursts the room is quiet for a second, as the probe goes on.
      await new Promise((r) => setTimeout(r, 1000));
    }
    const probeResult = await probe.stop();
    latencies.sort((a, b) => a - b);
    const med = (xs: number[]) =>
      percentile(
        [...xs].sort((a, b) => a - b),
        50,
      );
    return {
      members,
      over: web ? "websocket" : "tcp",
      bursts,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1] as number,
      burstMs: med(burstTimes),
      cpuPerDelivery: med(cpu),
      clientCpuPerDelivery: med(clientCpu),
      probe: probeResult,
    };
  } finally {
    for (const close of closers) close();
    if (probe !== null && probe.child.exitCode === null) probe.child.kill();
    await server.stop();
  }
}

/** One line of figures. */
export function describeBurst(r: BurstResult): string {
  const p = r.probe;
  return `${r.members} members (${r.over}), ${r.bursts} bursts: p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms; a burst everywhere in ${r.burstMs.toFixed(0)} ms, CPU per delivery ${r.cpuPerDelivery.toFixed(2)} µs in the server, ${r.clientCpuPerDelivery.toFixed(2)} µs in the members' process; probe round trip p50 ${p.p50.toFixed(1)} ms, p99 ${p.p99.toFixed(1)} ms, max ${p.max.toFixed(1)} ms, ${p.refused} of ${p.sent} refused, ${p.lost} lost`;
}

if (process.env.SOCKETKIT_BENCH_PROBE !== undefined) {
  await probeMain(Number(process.env.SOCKETKIT_BENCH_PROBE));
} else if (import.meta.url === `file://${process.argv[1]}`) {
  const members = Number(process.argv[2] ?? 1000);
  const bursts = Number(process.argv[3] ?? 5);
  console.log(describeBurst(await chatBurst(members, bursts)));
}
