import { allInterfacesWarning } from "../../core/address.ts";
import { RendezvousServer, type RendezvousServerOptions } from "./rendezvous-server.ts";
import { TransitRelay, type TransitRelayOptions } from "./transit-relay.ts";

/** Options of {@link relay}. */
export interface RelayOptions {
  /** Address both servers bind. @default "127.0.0.1" */
  host?: string;
  /** The rendezvous server's port; 0 picks a free one. @default 0 */
  port?: number;
  /** The transit relay's port; 0 picks a free one, null runs none. @default null */
  transitPort?: number | null;
  /** Limits of the rendezvous server. */
  rendezvous?: Omit<RendezvousServerOptions, "host" | "port" | "log">;
  /** Limits of the transit relay. */
  transit?: Omit<TransitRelayOptions, "host" | "port" | "log">;
  /** Stops both servers when aborted. */
  signal?: AbortSignal;
  /** Called once both listen, with the URL and the transit hint (null without one). */
  onListening?: (url: string, transitHint: string | null) => void;
  /** Where the listening lines and notices go. @default stderr */
  log?: (line: string) => void;
}

/**
 * Runs a Magic Wormhole rendezvous server (and a transit relay with `transitPort`) until
 * the signal aborts: what `socketkit relay` runs, and what `wormhole --relay-url
 * ws://HOST:PORT/v1 --transit-helper tcp:HOST:Q` and socketkit's send and receive use.
 *
 * @example
 * ```ts
 * import { relay } from "./relay.ts";
 * const stop = new AbortController();
 * const running = relay({ port: 4000, transitPort: 4001, signal: stop.signal });
 * stop.abort();
 * await running;
 * ```
 */
export async function relay(options: RelayOptions = {}): Promise<void> {
  const host = options.host ?? "127.0.0.1";
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const warning = allInterfacesWarning(host);
  if (warning !== null) log(warning);
  const rendezvous = await RendezvousServer.listen({
    ...options.rendezvous,
    host,
    port: options.port ?? 0,
    log,
  });
  let transit: TransitRelay | null = null;
  try {
    if (options.transitPort != null) {
      transit = await TransitRelay.listen({
        ...options.transit,
        host,
        port: options.transitPort,
        log,
      });
    }
  } catch (err) {
    await rendezvous.close();
    throw err;
  }
  const [h, p] = rendezvous.address;
  log(`listening on ${h}:${p} (tcp): rendezvous ${rendezvous.url}`);
  if (transit !== null) {
    const [th, tp] = transit.address;
    log(`listening on ${th}:${tp} (tcp): transit relay ${transit.hint}`);
  }
  options.onListening?.(rendezvous.url, transit?.hint ?? null);
  if (options.signal !== undefined && !options.signal.aborted) {
    const signal = options.signal;
    await new Promise<void>((resolve) =>
      signal.addEventListener("abort", () => resolve(), { once: true }),
    );
  }
  await Promise.all([rendezvous.close(), transit?.close()]);
}
