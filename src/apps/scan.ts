import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { ArgumentError, SocketError } from "../core/errors.ts";
import { quote } from "../core/escape.ts";
import { getaddrinfo } from "../socket/getaddrinfo.ts";

/** What a probe found: `open|filtered` is UDP's honest "no answer". */
export type PortState = "open" | "closed" | "filtered" | "open|filtered";

/** One port's result. */
export interface PortResult {
  port: number;
  state: PortState;
  /** The well-known service on that port (from /etc/services), or null. */
  service: string | null;
}

/** Options of {@link scan}. */
export interface ScanOptions {
  /** Probes in flight at once. @default 200 */
  concurrency?: number;
  /** Seconds to wait for each port's answer. @default 1 */
  timeout?: number;
  /** Probe UDP instead of TCP. @default false */
  udp?: boolean;
  /** Called as each port's result comes. */
  onResult?: (result: PortResult) => void;
}

/** A port or a range of them, spaces allowed around the numbers. */
const PORT_OR_RANGE = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/;

/**
 * Ports from `22`, `1-1024` or `80,443,8000-8100`: sorted, each once. Anything else is an
 * `ArgumentError` (`ERR_INVALID_ARGUMENT`) in one line naming the bad part. The ranges are
 * merged before they are listed, so the work is bounded by the length of `spec` and the
 * 65535 ports, however often a range repeats (`1-65535,1-65535,...`).
 *
 * @example
 * ```ts
 * import { parsePorts } from "./scan.ts";
 * parsePorts("443,80,8000-8002,80"); // [80, 443, 8000, 8001, 8002]
 * ```
 */
export function parsePorts(spec: string): number[] {
  const ranges: Array<[number, number]> = [];
  for (const part of spec.split(",")) {
    const m = PORT_OR_RANGE.exec(part);
    const low = m ? Number(m[1]) : Number.NaN;
    const high = m?.[2] === undefined ? low : Number(m[2]);
    if (!m || low < 1 || high > 65535 || low > high) {
      throw new ArgumentError(
        `Cannot scan ports ${quote(spec, 100)}: ${quote(part, 40)} is not a port or range within 1-65535`,
      );
    }
    ranges.push([low, high]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const ports: number[] = [];
  let next = 1; // the lowest port not listed yet
  for (const [low, high] of ranges) {
    for (let p = Math.max(low, next); p <= high; p++) ports.push(p);
    if (high >= next) next = high + 1;
  }
  return ports;
}

let services: Map<string, string> | null = null;

/** The service name for `port/proto` from /etc/services (null when unknown). */
export function serviceName(port: number, proto: "tcp" | "udp"): string | null {
  if (services === null) {
    services = new Map();
    try {
      for (const line of readFileSync("/etc/services", "utf8").split("\n")) {
        const m = /^([\w.+-]+)\s+(\d+)\/(tcp|udp)/.exec(line);
        if (m && !services.has(`${m[2]}/${m[3]}`)) services.set(`${m[2]}/${m[3]}`, m[1] as string);
      }
    } catch {
      // No /etc/services: names are left out.
    }
  }
  return services.get(`${port}/${proto}`) ?? null;
}

/**
 * Which of `ports` on `host` accept: a TCP connect to each (`open`, `closed` when
 * refused, `filtered` when nothing answers in time), or with `udp` an empty datagram to
 * each (`open` when something answers, `closed` when the host says the port is
 * unreachable, `open|filtered` when nothing comes back: UDP cannot tell those apart).
 * Results come in port order.
 *
 * @example
 * ```ts
 * import { parsePorts, scan } from "./scan.ts";
 * const open = (await scan("127.0.0.1", parsePorts("1-1024"))).filter((r) => r.state === "open");
 * console.log(open.map((r) => r.port));
 * ```
 */
export async function scan(
  host: string,
  ports: number[],
  options: ScanOptions = {},
): Promise<PortResult[]> {
  const address = await firstAddress(host, "scan");
  const timeoutMs = (options.timeout ?? 1) * 1000;
  const probe = options.udp ? probeUdp : probeTcp;
  const proto = options.udp ? "udp" : "tcp";
  const results = new Array<PortResult>(ports.length);
  let next = 0;
  const worker = async () => {
    while (next < ports.length) {
      const i = next++;
      const port = ports[i] as number;
      const state = await probe(address, port, timeoutMs);
      const result = { port, state, service: serviceName(port, proto) };
      results[i] = result;
      options.onResult?.(result);
    }
  };
  const workers = Math.max(1, Math.min(options.concurrency ?? 200, ports.length));
  await Promise.all(Array.from({ length: workers }, worker));
  return results;
}

/** What a TCP connect to a port found, and after how long (ms). */
export interface ConnectProbe {
  /**
   * `self`: connecting to a free port in the ephemeral range can hand the socket that very
   * port as its own source, and TCP's simultaneous open then "connects" it to itself.
   */
  outcome: "connected" | "self" | "refused" | "timeout" | "failed";
  ms: number;
}

/** One TCP connect to `address:port`, given up after `timeoutMs` (scan's and ping's probe). */
export function connectProbe(
  address: string,
  port: number,
  timeoutMs: number,
): Promise<ConnectProbe> {
  return new Promise((resolve) => {
    const start = performance.now();
    const s = netConnect({ host: address, port });
    const done = (outcome: ConnectProbe["outcome"]) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ outcome, ms: performance.now() - start });
    };
    const timer = setTimeout(() => done("timeout"), timeoutMs);
    s.once("connect", () =>
      done(s.localPort === port && s.localAddress === s.remoteAddress ? "self" : "connected"),
    );
    s.once("error", (err: NodeJS.ErrnoException) =>
      done(err.code === "ECONNREFUSED" ? "refused" : "failed"),
    );
  });
}

/** The first address `host` resolves to, for `action` ("scan", "ping") in the error. */
export async function firstAddress(host: string, action: string): Promise<string> {
  const [first] = await getaddrinfo(host, null);
  if (first === undefined) {
    throw new SocketError(`Cannot ${action} ${host}: no address`, { code: "EAI_NONAME" });
  }
  return (first[4] as [string, number])[0];
}

async function probeTcp(host: string, port: number, timeoutMs: number): Promise<PortState> {
  const { outcome } = await connectProbe(host, port, timeoutMs);
  // A socket connected to itself is no listener: the port is closed.
  if (outcome === "connected") return "open";
  return outcome === "refused" || outcome === "self" ? "closed" : "filtered";
}

function probeUdp(host: string, port: number, timeoutMs: number): Promise<PortState> {
  return new Promise((resolve) => {
    const s = createSocket(host.includes(":") ? "udp6" : "udp4");
    let settled = false;
    const done = (state: PortState) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.close();
      resolve(state);
    };
    const timer = setTimeout(() => done("open|filtered"), timeoutMs);
    // As with TCP: a socket given the very port it probes hears its own datagram.
    s.once("message", (_m, from) =>
      done(from.port === port && s.address().port === port ? "closed" : "open"),
    );
    // A connected UDP socket hears the ICMP "port unreachable" as ECONNREFUSED.
    s.once("error", (err: NodeJS.ErrnoException) =>
      done(err.code === "ECONNREFUSED" ? "closed" : "open|filtered"),
    );
    s.connect(port, host, () => s.send(Buffer.alloc(0)));
  });
}
