import { AF_INET, IPPROTO_ICMP, SOCK_DGRAM, SOCK_RAW } from "../core/constants.ts";
import { PermissionError, type SocketError, UnsupportedError } from "../core/errors.ts";
import { type Socket, socket } from "../socket/socket.ts";
import "../native/register.ts";
import { connectProbe, firstAddress } from "./scan.ts";

/** How the pings go out. */
export type PingMethod = "icmp" | "raw" | "tcp";

/** One probe's outcome. */
export interface PingReply {
  seq: number;
  /** Round trip in milliseconds, or null when nothing came back in time. */
  ms: number | null;
  /** ICMP: bytes of the reply; TCP: 0. */
  bytes: number;
  /** ICMP over a raw socket: the reply's TTL. */
  ttl: number | null;
  /** TCP: "connected" or "refused" (either proves the host is there). */
  note: string | null;
}

/** Options of {@link ping}. */
export interface PingOptions {
  /** Probes to send. @default 4 */
  count?: number;
  /** Seconds between probes. @default 1 */
  interval?: number;
  /** Seconds to wait for each reply. @default 1 */
  timeout?: number;
  /** Ping with TCP connects to this port instead of ICMP. @default undefined */
  tcpPort?: number;
  /** Port for the TCP fallback when ICMP is not possible. @default 80 */
  fallbackPort?: number;
  /** Called once the method is chosen: what is used, and why when it is a fallback. */
  onStart?: (info: {
    method: PingMethod;
    address: string;
    port: number | null;
    why: string | null;
  }) => void;
  /** Called for each probe. */
  onReply?: (reply: PingReply) => void;
  /** Stops after the current probe when aborted. */
  signal?: AbortSignal;
}

/** The statistics `ping` prints at the end. */
export interface PingSummary {
  host: string;
  address: string;
  method: PingMethod;
  sent: number;
  received: number;
  /** Percent lost, 0-100. */
  loss: number;
  min: number | null;
  avg: number | null;
  max: number | null;
  mdev: number | null;
  /** Milliseconds from the first probe to the end. */
  time: number;
}

const ECHO_REQUEST = 8;
const ECHO_REPLY = 0;
const PAYLOAD = Buffer.from("socketkit ping ".repeat(4).slice(0, 56));

/**
 * Pings `host` as `ping` does: ICMP echo through an unprivileged ping socket when the
 * system allows it, else through a raw socket when privileged, else (or with `tcpPort`)
 * by timing TCP connects, where a refusal counts as an answer too. Needs the native
 * addon for ICMP; without it, TCP.
 */
export async function ping(host: string, options: PingOptions = {}): Promise<PingSummary> {
  const address = await firstAddress(host, "ping");
  const v6 = address.includes(":");
  const count = options.count ?? 4;
  const intervalMs = (options.interval ?? 1) * 1000;
  const timeoutMs = (options.timeout ?? 1) * 1000;

  let probe: (seq: number) => Promise<PingReply>;
  let method: PingMethod;
  let close = async () => {};
  let why: string | null = null;
  let port: number | null = null;
  const icmp = options.tcpPort === undefined && !v6 ? openIcmp() : null;
  if (icmp !== null && icmp.socket !== null) {
    method = icmp.method;
    const s = icmp.socket;
    const id = (process.pid ^ Math.floor(Math.random() * 0xffff)) & 0xffff;
    probe = (seq) => icmpProbe(s, icmp.method, address, id, seq, timeoutMs);
    close = () => s.close();
  } else {
    method = "tcp";
    port = options.tcpPort ?? options.fallbackPort ?? 80;
    why = options.tcpPort !== undefined ? null : (icmp?.why ?? "ICMP over IPv6 is not supported");
    const p = port;
    probe = (seq) => tcpProbe(address, p, seq, timeoutMs);
  }
  options.onStart?.({ method, address, port, why });

  const times: number[] = [];
  let sent = 0;
  const started = performance.now();
  try {
    for (let seq = 1; seq <= count; seq++) {
      const t0 = performance.now();
      const reply = await probe(seq);
      sent++;
      if (reply.ms !== null) times.push(reply.ms);
      options.onReply?.(reply);
      if (seq === count || options.signal?.aborted) break;
      const rest = intervalMs - (performance.now() - t0);
      if (rest > 0) await new Promise((r) => setTimeout(r, rest));
      if (options.signal?.aborted) break;
    }
  } finally {
    await close();
  }
  const avg = times.length ? times.reduce((a, b) => a + b, 0) / times.length : null;
  const mdev =
    avg === null ? null : Math.sqrt(times.reduce((a, t) => a + (t - avg) ** 2, 0) / times.length);
  return {
    host,
    address,
    method,
    sent,
    received: times.length,
    loss: sent === 0 ? 0 : Math.round(((sent - times.length) / sent) * 1000) / 10,
    min: times.length ? Math.min(...times) : null,
    avg,
    max: times.length ? Math.max(...times) : null,
    mdev,
    time: performance.now() - started,
  };
}

/** A ping socket, else a raw socket; null socket with the reason when neither is allowed. */
function openIcmp(): { socket: Socket | null; method: "icmp" | "raw"; why: string | null } {
  const reasons: string[] = [];
  for (const [type, method] of [
    [SOCK_DGRAM, "icmp"],
    [SOCK_RAW, "raw"],
  ] as const) {
    try {
      return { socket: socket(AF_INET, type, IPPROTO_ICMP), method, why: null };
    } catch (err) {
      if (err instanceof UnsupportedError) {
        return { socket: null, method, why: "the native addon is not built (ICMP needs it)" };
      }
      if (!(err instanceof PermissionError)) throw err;
      reasons.push(
        method === "icmp"
          ? "ping sockets are not allowed (net.ipv4.ping_group_range)"
          : "raw sockets need root or CAP_NET_RAW",
      );
    }
  }
  return { socket: null, method: "raw", why: reasons.join("; ") };
}

function checksum(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += ((b[i] as number) << 8) + (b[i + 1] ?? 0);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return ~sum & 0xffff;
}

async function icmpProbe(
  s: Socket,
  method: "icmp" | "raw",
  address: string,
  id: number,
  seq: number,
  timeoutMs: number,
): Promise<PingReply> {
  const packet = Buffer.alloc(8 + PAYLOAD.length);
  packet[0] = ECHO_REQUEST;
  packet.writeUInt16BE(id, 4);
  packet.writeUInt16BE(seq, 6);
  PAYLOAD.copy(packet, 8);
  packet.writeUInt16BE(checksum(packet), 2);
  const start = performance.now();
  await s.sendto(packet, [address, 0]);
  const deadline = start + timeoutMs;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) return { seq, ms: null, bytes: 0, ttl: null, note: null };
    s.settimeout(left / 1000);
    let data: Buffer;
    try {
      [data] = await s.recvfrom(1500);
    } catch (err) {
      if ((err as SocketError).code === "ETIMEDOUT")
        return { seq, ms: null, bytes: 0, ttl: null, note: null };
      throw err;
    }
    // A raw socket hands over the IP header too (and sees our own request on loopback);
    // a ping socket gives the ICMP message alone, its id rewritten by the kernel.
    const offset = method === "raw" ? ((data[0] as number) & 0x0f) * 4 : 0;
    const icmp = data.subarray(offset);
    if (icmp.length < 8 || icmp[0] !== ECHO_REPLY || icmp.readUInt16BE(6) !== seq) continue;
    if (method === "raw" && icmp.readUInt16BE(4) !== id) continue;
    return {
      seq,
      ms: performance.now() - start,
      bytes: icmp.length,
      ttl: method === "raw" ? (data[8] as number) : null,
      note: null,
    };
  }
}

async function tcpProbe(
  address: string,
  port: number,
  seq: number,
  timeoutMs: number,
): Promise<PingReply> {
  const { outcome, ms } = await connectProbe(address, port, timeoutMs);
  if (outcome === "connected" || outcome === "self") {
    return { seq, ms, bytes: 0, ttl: null, note: "connected" };
  }
  if (outcome === "refused") return { seq, ms, bytes: 0, ttl: null, note: "refused" };
  return { seq, ms: null, bytes: 0, ttl: null, note: null };
}
