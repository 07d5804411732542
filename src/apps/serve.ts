import type { TlsOptions } from "node:tls";
import { allInterfacesWarning, formatAddress } from "../core/address.ts";
import { stderrLine } from "../core/log-budget.ts";
import type { BaseServer } from "../server/base-server.ts";
import { TCPServer } from "../server/tcp-server.ts";
import { UDPServer } from "../server/udp-server.ts";
import { UnixStreamServer } from "../server/unix-stream-server.ts";
import { isWorkerOf } from "../server/worker-pool.ts";
import { SERVICES } from "./services/index.ts";

/** Options of {@link serve}. */
export interface ServeOptions {
  /** Address to bind. @default "127.0.0.1" */
  host?: string;
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
  /** Serve over UDP. @default false */
  udp?: boolean;
  /** Serve on this Unix socket path instead. @default undefined */
  unix?: string;
  /** Connections handled at once (TCP, Unix). @default 10000 */
  maxConns?: number;
  /** Seconds a silent connection is kept (TCP, Unix). @default 300 */
  idleTimeout?: number | null;
  /** Processes serving the port together (TCP). @default 1 */
  workers?: number;
  /** Where the `listening on` line, warnings and errors go. @default process.stderr */
  log?: (line: string) => void;
  /** Shuts the server down gracefully when aborted. */
  signal?: AbortSignal;
  /** Serve TLS with these options (TCP and Unix). @default undefined */
  tls?: TlsOptions;
  /**
   * IPv4 and IPv6 addresses and CIDR ranges (comma-separated within a string) of the only
   * peers let in; others are closed at once (UDP: their datagrams dropped) and logged once
   * per host. Not with `unix`.
   * @default undefined (every peer)
   */
  allow?: readonly string[];
  /** Addresses and CIDR ranges of peers refused, whatever `allow` says. @default undefined */
  deny?: readonly string[];
}

/**
 * Runs a built-in service (echo, discard, daytime, chargen, upper, greet, command) until
 * the signal aborts; what `socketkit serve` does.
 *
 * @example
 * ```ts
 * import { serve } from "./serve.ts";
 * await serve("echo", { port: 7007, signal: AbortSignal.timeout(60_000) });
 * ```
 */
export async function serve(name: string, options: ServeOptions = {}): Promise<void> {
  const service = SERVICES[name];
  if (service === undefined) {
    throw new Error(
      `Cannot serve ${JSON.stringify(name)}: no such service (${Object.keys(SERVICES).join(", ")})`,
    );
  }
  const log = options.log ?? stderrLine;
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 0;
  const common = { log, gracePeriod: 5, allow: options.allow, deny: options.deny };
  const server: BaseServer<unknown> = (
    options.udp
      ? await UDPServer.create([host, port], service.datagram, common)
      : options.unix !== undefined
        ? await UnixStreamServer.create(options.unix, service.stream, {
            ...common,
            maxConnections: options.maxConns,
            idleTimeout: options.idleTimeout,
            tls: options.tls,
          })
        : await TCPServer.create([host, port], service.stream, {
            ...common,
            requestQueueSize: 128,
            maxConnections: options.maxConns,
            idleTimeout: options.idleTimeout,
            workers: options.workers,
            tls: options.tls,
          })
  ) as BaseServer<unknown>;
  const onAbort = () => void server.shutdown();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    if (!isWorkerOf()) {
      const warning = allInterfacesWarning(host, options.unix);
      if (warning !== null) log(warning);
      const proto = options.udp
        ? "udp"
        : options.unix !== undefined
          ? "unix"
          : options.tls
            ? "tls"
            : "tcp";
      log(`listening on ${formatAddress(server.serverAddress)} (${proto})`);
    }
    if (options.signal?.aborted) await server.shutdown();
    await server.serveForever();
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await server.close();
  }
}
