import { type Command, InvalidArgumentError } from "commander";
import { type PortResult, parsePorts, scan } from "../apps/scan.ts";
import { ArgumentError } from "../core/errors.ts";
import { parseCount, parseHost, parseSeconds } from "./parsers.ts";

interface ScanFlags {
  timeout: number;
  concurrency: number;
  json?: boolean;
  udp?: boolean;
  all?: boolean;
}

/** The ports argument; a list that is not ports is a usage error (exit 2), in one line. */
function portsArgument(value: string): number[] {
  try {
    return parsePorts(value);
  } catch (err) {
    if (err instanceof ArgumentError) throw new InvalidArgumentError(err.message);
    throw err;
  }
}

/** `socketkit scan HOST PORTS`: which ports accept. */
export function registerScan(program: Command): void {
  program
    .command("scan")
    .description("check which ports of HOST accept connections (TCP connect, or --udp)")
    .argument("<host>", "host to scan", parseHost)
    .argument("<ports>", "ports: 22, 1-1024, 80,443,8000-8100", portsArgument)
    .option("--timeout <seconds>", "wait this long for each port", parseSeconds, 1)
    .option("--concurrency <n>", "probes in flight at once", parseCount, 200)
    .option("--udp", "probe UDP with an empty datagram (no answer is reported as open|filtered)")
    .option("--all", "list every port, not only the open ones")
    .option("--json", "print the results as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  $ socketkit scan 127.0.0.1 1-1024\n  $ socketkit scan 127.0.0.1 22,80,443,8000-8100 --json\n  $ socketkit scan 127.0.0.1 53,123 --udp",
    )
    .action(async (host: string, ports: number[], flags: ScanFlags) => {
      const started = performance.now();
      const results = await scan(host, ports, {
        timeout: flags.timeout,
        concurrency: flags.concurrency,
        udp: flags.udp,
      });
      const seconds = (performance.now() - started) / 1000;
      const counts: Record<string, number> = {};
      for (const r of results) counts[r.state] = (counts[r.state] ?? 0) + 1;
      const shown = flags.all
        ? results
        : results.filter((r) => r.state === "open" || r.state === "open|filtered");
      const proto = flags.udp ? "udp" : "tcp";
      if (flags.json) {
        process.stdout.write(
          `${JSON.stringify({ host, protocol: proto, seconds: Number(seconds.toFixed(3)), counts, ports: shown }, null, 2)}\n`,
        );
        return;
      }
      const line = (r: PortResult) =>
        `${`${r.port}/${proto}`.padEnd(12)}${r.state.padEnd(15)}${r.service ?? ""}`.trimEnd();
      if (shown.length > 0)
        process.stdout.write(`${"PORT".padEnd(12)}${"STATE".padEnd(15)}SERVICE\n`);
      for (const r of shown) process.stdout.write(`${line(r)}\n`);
      const summary = Object.entries(counts)
        .map(([state, n]) => `${n} ${state}`)
        .join(", ");
      process.stdout.write(
        `scanned ${results.length} ${proto} ports of ${host} in ${seconds.toFixed(2)} s: ${summary}\n`,
      );
    });
}
