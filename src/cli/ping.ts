import type { Command } from "commander";
import { type PingReply, ping } from "../apps/ping.ts";
import { parseCount, parseHost, parsePort, parseSeconds } from "./parsers.ts";
import { untilStopped } from "./until-stopped.ts";

interface PingFlags {
  count: number;
  interval: number;
  timeout: number;
  tcp?: number;
}

const ms = (n: number) => n.toFixed(3);

/** `socketkit ping HOST`: ICMP echo, or TCP connects, with ping's output. */
export function registerPing(program: Command): void {
  program
    .command("ping")
    .description("ping HOST: ICMP echo (ping socket, else raw socket), else TCP connects")
    .argument("<host>", "host to ping", parseHost)
    .option("--count <n>", "probes to send", parseCount, 4)
    .option("--interval <seconds>", "time between probes", parseSeconds, 1)
    .option("--timeout <seconds>", "wait this long for each reply", parseSeconds, 1)
    .option("--tcp <port>", "time TCP connects to PORT instead of ICMP", parsePort)
    .addHelpText(
      "after",
      "\nExamples:\n  $ socketkit ping 127.0.0.1 --count 3\n  $ socketkit ping 127.0.0.1 --tcp 22     # no privileges needed",
    )
    .action(async (host: string, flags: PingFlags) => {
      const out = (line: string) => process.stdout.write(`${line}\n`);
      const summary = await untilStopped((signal) =>
        ping(host, {
          count: flags.count,
          interval: flags.interval,
          timeout: flags.timeout,
          tcpPort: flags.tcp,
          signal,
          onStart: ({ method, address, port, why }) => {
            const how =
              method === "icmp"
                ? "ICMP echo through a ping socket"
                : method === "raw"
                  ? "ICMP echo through a raw socket"
                  : `TCP connects to port ${port}${why ? ` (ICMP not possible: ${why})` : ""}`;
            out(`PING ${host} (${address}): ${how}`);
          },
          onReply: (r: PingReply) => {
            if (r.ms === null) out(`no reply: seq=${r.seq} (timed out)`);
            else if (r.note !== null)
              out(`from ${host}: seq=${r.seq} ${r.note} time=${ms(r.ms)} ms`);
            else
              out(
                `${r.bytes} bytes from ${host}: icmp_seq=${r.seq}${r.ttl === null ? "" : ` ttl=${r.ttl}`} time=${ms(r.ms)} ms`,
              );
          },
        }),
      );
      out(`\n--- ${host} ping statistics ---`);
      out(
        `${summary.sent} packets transmitted, ${summary.received} received, ${summary.loss}% packet loss, time ${Math.round(summary.time)}ms`,
      );
      if (summary.min !== null) {
        out(
          `rtt min/avg/max/mdev = ${ms(summary.min)}/${ms(summary.avg as number)}/${ms(summary.max as number)}/${ms(summary.mdev as number)} ms`,
        );
      }
      if (summary.received === 0) process.exitCode = 1;
    });
}
