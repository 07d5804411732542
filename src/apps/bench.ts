import { randomBytes } from "node:crypto";
import { connect, type Socket as NetSocket } from "node:net";
import { formatAddress } from "../core/address.ts";
import { SocketError, toSocketError } from "../core/errors.ts";

/** Options of {@link bench}. */
export interface BenchOptions {
  /** `pingpong`: send `size` bytes, wait for them back, again; `stream`: send without pause. @default "pingpong" */
  mode?: "pingpong" | "stream";
  /** Connections at once. @default 1 */
  conns?: number;
  /** Bytes per message (pingpong) or per write (stream). @default 64 (pingpong), 65536 (stream) */
  size?: number;
  /** Seconds of measurement, after the connections are up. @default 5 */
  duration?: number;
  /**
   * Stream mode: also read what comes back (an echo server) and check it, so the rate is
   * both ways. @default false (one way; what comes back is read and dropped)
   */
  both?: boolean;
  /** Payload: each byte a line-friendly letter, and a newline at the end (line echoes work). @default true */
  lineFriendly?: boolean;
  /**
   * Pingpong over UDP: each "connection" is a connected datagram socket; a datagram not
   * echoed within `udpTimeout` seconds is counted lost and sent again. @default false
   */
  udp?: boolean;
  /** UDP: seconds before a datagram counts as lost. @default 0.2 */
  udpTimeout?: number;
}

/** Latency percentiles in milliseconds. */
export interface Latency {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** What a run measured. */
export interface BenchResult {
  mode: "pingpong" | "stream";
  conns: number;
  size: number;
  seconds: number;
  /** Pingpong: verified round trips, and per second. */
  roundTrips: number;
  /** UDP pingpong: datagrams that got no echo in time. */
  lost: number;
  perSecond: number;
  latency: Latency | null;
  /** Stream: bytes written, bytes read back (checked, with `both`), per second. */
  bytesSent: number;
  bytesReceived: number;
  sendRate: number;
  receiveRate: number;
}

/**
 * A load generator for a TCP server: what `socketkit bench` runs. In `pingpong` mode each
 * connection sends `size` bytes and waits until exactly those bytes come back (every byte
 * compared: a wrong echo fails the run) before sending again; round trips per second and
 * the latency percentiles are reported. In `stream` mode each connection writes as fast as
 * the server takes it. It drives plain `node:net` sockets with callbacks, so the generator
 * costs as little as Node allows and is not what a benchmark measures.
 *
 * @example
 * ```ts
 * import { bench } from "./bench.ts";
 * const r = await bench("127.0.0.1", 7007, { conns: 50, duration: 2 });
 * console.log(r.perSecond, r.latency?.p99);
 * ```
 */
export async function bench(
  host: string,
  port: number,
  options: BenchOptions = {},
): Promise<BenchResult> {
  const mode = options.mode ?? "pingpong";
  const conns = options.conns ?? 1;
  const size = options.size ?? (mode === "pingpong" ? 64 : 65536);
  const seconds = options.duration ?? 5;
  const payload = makePayload(size, options.lineFriendly ?? true);
  if (options.udp)
    return udpPingpong(host, port, conns, payload, seconds, options.udpTimeout ?? 0.2);
  const opened = await Promise.allSettled(Array.from({ length: conns }, () => open(host, port)));
  const sockets = opened.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
  const refused = opened.find((o) => o.status === "rejected");
  if (refused !== undefined) {
    for (const s of sockets) s.destroy();
    throw refused.reason;
  }
  let failure: Error | null = null;
  const fail = (err: Error) => {
    failure ??= toSocketError(err, `bench ${formatAddress([host, port])}`);
  };
  try {
    return mode === "pingpong"
      ? await pingpong(sockets, payload, seconds, fail, () => failure)
      : await stream(sockets, payload, seconds, options.both ?? false, fail, () => failure);
  } finally {
    for (const s of sockets) s.destroy();
  }
}

/** Latency percentiles of the first `count` samples (sorted in place). */
function percentiles(samples: Float64Array, count: number): Latency | null {
  if (count === 0) return null;
  const sorted = samples.subarray(0, count).sort();
  const at = (p: number) => sorted[Math.min(count - 1, Math.ceil(p * count) - 1)] as number;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[count - 1] as number };
}

/** Pingpong over UDP: send a datagram, wait for the same bytes back, again. */
async function udpPingpong(
  host: string,
  port: number,
  conns: number,
  payload: Buffer,
  seconds: number,
  lossTimeout: number,
): Promise<BenchResult> {
  const { createSocket } = await import("node:dgram");
  let running = true;
  let count = 0;
  let lost = 0;
  let samples = new Float64Array(1 << 16);
  let failure: Error | null = null;
  const sockets = await Promise.all(
    Array.from(
      { length: conns },
      () =>
        new Promise<import("node:dgram").Socket>((resolve, reject) => {
          const s = createSocket(host.includes(":") ? "udp6" : "udp4");
          const refuse = (err: Error) =>
            reject(toSocketError(err, `connect to ${formatAddress([host, port])}`));
          s.once("error", refuse);
          s.connect(port, host, () => {
            s.off("error", refuse);
            resolve(s);
          });
        }),
    ),
  );
  const starters: Array<() => void> = [];
  for (const s of sockets) {
    let sentAt = 0;
    let timer: NodeJS.Timeout | null = null;
    const send = () => {
      sentAt = performance.now();
      s.send(payload);
      timer = setTimeout(() => {
        lost++;
        if (running) send();
      }, lossTimeout * 1000);
    };
    s.on("error", (err) => {
      failure ??= toSocketError(err, `bench ${formatAddress([host, port])}`);
    });
    s.on("message", (m: Buffer) => {
      if (!m.equals(payload)) {
        failure ??= mismatch();
        return;
      }
      if (timer) clearTimeout(timer);
      const now = performance.now();
      if (!running) return;
      if (count === samples.length) {
        const bigger = new Float64Array(samples.length * 2);
        bigger.set(samples);
        samples = bigger;
      }
      samples[count++] = now - sentAt;
      send();
    });
    starters.push(send);
  }
  try {
    const elapsed = await run(
      starters,
      seconds,
      () => failure,
      () => {
        running = false;
      },
    );
    return {
      mode: "pingpong",
      conns,
      size: payload.length,
      seconds: elapsed,
      roundTrips: count,
      lost,
      perSecond: count / elapsed,
      latency: percentiles(samples, count),
      bytesSent: 0,
      bytesReceived: 0,
      sendRate: 0,
      receiveRate: 0,
    };
  } finally {
    for (const s of sockets) s.close();
  }
}

/** Starts every connection, measures for `seconds`, stops; the seconds elapsed. */
async function run(
  starters: Array<() => void>,
  seconds: number,
  failed: () => Error | null,
  stop: () => void,
): Promise<number> {
  const started = performance.now();
  for (const start of starters) start();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  stop();
  const err = failed();
  if (err) throw err;
  return (performance.now() - started) / 1000;
}

function mismatch(): SocketError {
  return new SocketError("The server sent back bytes that differ from what was sent", {
    code: "EBADMSG",
  });
}

function makePayload(size: number, lineFriendly: boolean): Buffer {
  if (!lineFriendly) return randomBytes(size);
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = 0x61 + (i % 26);
  if (size > 0) out[size - 1] = 0x0a;
  return out;
}

function open(host: string, port: number): Promise<NetSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, noDelay: true });
    s.once("connect", () => {
      s.off("error", reject);
      resolve(s);
    });
    // As `connect` says it: "Cannot connect to HOST:PORT: connection refused".
    s.once("error", (err) =>
      reject(toSocketError(err, `connect to ${formatAddress([host, port])}`)),
    );
  });
}

async function pingpong(
  sockets: NetSocket[],
  payload: Buffer,
  seconds: number,
  fail: (err: Error) => void,
  failed: () => Error | null,
): Promise<BenchResult> {
  const size = payload.length;
  let running = true;
  let count = 0;
  let samples = new Float64Array(1 << 16);
  const record = (ms: number) => {
    if (count === samples.length) {
      const bigger = new Float64Array(samples.length * 2);
      bigger.set(samples);
      samples = bigger;
    }
    samples[count++] = ms;
  };
  const starters: Array<() => void> = [];
  for (const s of sockets) {
    let got = 0;
    let sentAt = 0;
    s.on("error", fail);
    s.on("close", () => {
      if (running)
        fail(
          new SocketError("The server closed a connection during the run", { code: "ECONNRESET" }),
        );
    });
    s.on("data", (chunk: Buffer) => {
      // The common case, a whole echo in one chunk: one comparison, no views.
      if (got === 0 && chunk.length === size) {
        if (!chunk.equals(payload)) {
          fail(mismatch());
          return;
        }
        const now = performance.now();
        if (running) {
          record(now - sentAt);
          sentAt = now;
          s.write(payload);
        }
        return;
      }
      // Compare what came back with what was sent, byte for byte, across chunk boundaries.
      let off = 0;
      while (off < chunk.length) {
        const take = Math.min(chunk.length - off, size - got);
        if (!chunk.subarray(off, off + take).equals(payload.subarray(got, got + take))) {
          fail(mismatch());
          return;
        }
        off += take;
        got += take;
        if (got === size) {
          got = 0;
          const now = performance.now();
          if (running) {
            record(now - sentAt);
            sentAt = now;
            s.write(payload);
          }
        }
      }
    });
    starters.push(() => {
      sentAt = performance.now();
      s.write(payload);
    });
  }
  const elapsed = await run(starters, seconds, failed, () => {
    running = false;
  });
  const latency = percentiles(samples, count);
  return {
    mode: "pingpong",
    conns: sockets.length,
    size,
    seconds: elapsed,
    roundTrips: count,
    lost: 0,
    perSecond: count / elapsed,
    latency,
    bytesSent: 0,
    bytesReceived: 0,
    sendRate: 0,
    receiveRate: 0,
  };
}

async function stream(
  sockets: NetSocket[],
  payload: Buffer,
  seconds: number,
  both: boolean,
  fail: (err: Error) => void,
  failed: () => Error | null,
): Promise<BenchResult> {
  let running = true;
  let received = 0;
  const starters: Array<() => void> = [];
  for (const s of sockets) {
    let at = 0; // position in the payload of the next byte expected back
    s.on("error", fail);
    s.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (!both) return;
      let off = 0;
      while (off < chunk.length) {
        const take = Math.min(chunk.length - off, payload.length - at);
        if (!chunk.subarray(off, off + take).equals(payload.subarray(at, at + take))) {
          fail(mismatch());
          return;
        }
        off += take;
        at = (at + take) % payload.length;
      }
    });
    const pump = () => {
      while (running) {
        if (!s.write(payload)) {
          s.once("drain", pump);
          return;
        }
      }
    };
    starters.push(pump);
  }
  const elapsed = await run(starters, seconds, failed, () => {
    running = false;
  });
  // What the kernel took, not what waits in Node's buffers.
  const sent = sockets.reduce((n, s) => n + s.bytesWritten - s.writableLength, 0);
  return {
    mode: "stream",
    conns: sockets.length,
    size: payload.length,
    seconds: elapsed,
    roundTrips: 0,
    lost: 0,
    perSecond: 0,
    latency: null,
    bytesSent: sent,
    bytesReceived: received,
    sendRate: sent / elapsed,
    receiveRate: received / elapsed,
  };
}
