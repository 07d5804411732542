import { type Command, InvalidArgumentError, Option } from "commander";
import { type BenchResult, bench } from "../apps/bench.ts";
import { parseCount, parseHost, parsePort, parseSeconds } from "./parsers.ts";

interface BenchFlags {
  mode: "pingpong" | "stream";
  conns: number;
  size?: number;
  duration: number;
  both?: boolean;
  udp?: boolean;
  json?: boolean;
}

function parseBytes(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64 * 1024 * 1024) {
    throw new InvalidArgumentError(`expected bytes 1-67108864, got "${value}"`);
  }
  return n;
}

const ms = (n: number) => `${n.toFixed(3)} ms`;
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB/s`;

/** The lines `socketkit bench` prints for a result. */
export function benchReport(host: string, port: number, r: BenchResult): string[] {
  const head = `${r.mode} to ${host}:${port}: ${r.conns} connection${r.conns === 1 ? "" : "s"}, ${r.size} bytes, ${r.seconds.toFixed(1)} s`;
  if (r.mode === "pingpong") {
    const l = r.latency;
    return [
      head,
      `${Math.round(r.perSecond)} round trips/s (${r.roundTrips} verified${r.lost > 0 ? `, ${r.lost} datagrams lost` : ""})`,
      l === null
        ? "no round trip completed"
        : `latency p50 ${ms(l.p50)}, p90 ${ms(l.p90)}, p99 ${ms(l.p99)}, max ${ms(l.max)}`,
    ];
  }
  return [
    head,
    `sent ${mb(r.sendRate)}${r.bytesReceived > 0 ? `, received ${mb(r.receiveRate)}` : ""}`,
  ];
}

/** `socketkit bench HOST PORT`: a load generator. */
export function registerBench(program: Command): void {
  program
    .command("bench")
    .description("load a TCP server: ping-pong round trips with latency, or a stream's rate")
    .argument("<host>", "server host", parseHost)
    .argument("<port>", "server port", parsePort)
    .addOption(
      new Option("--mode <mode>", "pingpong or stream")
        .choices(["pingpong", "stream"])
        .default("pingpong"),
    )
    .option("--conns <n>", "connections at once", parseCount, 1)
    .option(
      "--size <bytes>",
      "bytes per message (64) or per write in stream mode (65536)",
      parseBytes,
    )
    .option("--duration <seconds>", "seconds to measure", parseSeconds, 5)
    .option("--both", "stream mode: read back and check the echo (both ways)")
    .option("--udp", "pingpong over UDP datagrams (a lost one is counted and sent again)")
    .option("--json", "print the result as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  $ socketkit bench 127.0.0.1 7007 --conns 50 --duration 10\n  $ socketkit bench 127.0.0.1 9 --mode stream          # to a discard server",
    )
    .action(async (host: string, port: number, flags: BenchFlags) => {
      const result = await bench(host, port, {
        mode: flags.mode,
        conns: flags.conns,
        size: flags.size,
        duration: flags.duration,
        both: flags.both,
        udp: flags.udp,
      });
      if (flags.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else for (const line of benchReport(host, port, result)) process.stdout.write(`${line}\n`);
    });
}
