/**
 * Magic Wormhole test helpers: a rendezvous server and transit relay of socketkit's own
 * on 127.0.0.1 (free ports), and the real `wormhole` program always pointed at them. No
 * call here can reach the public servers: every `wormhole` run gets `--relay-url` and
 * `--transit-helper`, and `--no-listen` (its direct hints would name this machine's
 * non-loopback addresses).
 */
import { spawnSync } from "node:child_process";
import type { TestContext } from "node:test";
import {
  RendezvousServer,
  type RendezvousServerOptions,
} from "../../src/apps/wormhole/rendezvous-server.ts";
import { TransitRelay } from "../../src/apps/wormhole/transit-relay.ts";
import { errorOutputFrom, type Program, ROOT, start } from "./proc.ts";

let found: string | null | undefined;
/** Why tests of the real `wormhole` must skip, or null when it is here. */
export function noWormhole(): string | null {
  if (found === undefined) {
    const r = spawnSync("wormhole", ["--version"], { encoding: "utf8" });
    found =
      r.status === 0 ? null : "the wormhole program (Debian's magic-wormhole) is not installed";
  }
  return found;
}

/** socketkit's rendezvous server and transit relay on 127.0.0.1, closed when the test ends. */
export interface LocalRelay {
  rendezvous: RendezvousServer;
  transit: TransitRelay;
  url: string;
  hint: string;
}

export async function localRelay(
  t: TestContext,
  options: RendezvousServerOptions = {},
): Promise<LocalRelay> {
  const rendezvous = await RendezvousServer.listen({ ...options, host: "127.0.0.1", port: 0 });
  const transit = await TransitRelay.listen({ host: "127.0.0.1", port: 0 });
  t.after(async () => {
    await rendezvous.close();
    await transit.close();
  });
  return { rendezvous, transit, url: rendezvous.url, hint: transit.hint };
}

/**
 * Runs `wormhole --relay-url URL --transit-helper HINT SUBCOMMAND --no-listen
 * --hide-progress ARGS...` (the last two only where the subcommand takes them).
 */
export function wormhole(
  relay: { url: string; hint: string },
  subcommand: "send" | "receive",
  args: string[],
  options: { cwd?: string } = {},
): Program {
  if (!relay.url.startsWith("ws://127.0.0.1:") || !relay.hint.startsWith("tcp:127.0.0.1:"))
    throw new Error(`Refusing to run wormhole on servers off loopback: ${relay.url} ${relay.hint}`);
  return start(
    "wormhole",
    [
      "--relay-url",
      relay.url,
      "--transit-helper",
      relay.hint,
      subcommand,
      "--no-listen",
      "--hide-progress",
      ...args,
    ],
    { cwd: options.cwd, env: { PYTHONUNBUFFERED: "1" } },
  );
}

/** Waits for `Wormhole code is: CODE` on a sender's stderr and returns the code. */
export async function codeOf(program: Program): Promise<string> {
  const line = /Wormhole code is: (\S+)/;
  await errorOutputFrom(program, (err) => line.test(err));
  return (line.exec(program.stderr()) as RegExpExecArray)[1] as string;
}

/**
 * `socketkit ARGS... --relay-url URL --transit-helper HINT EXTRA...` (from the source, in
 * `cwd`): never the public servers.
 */
export function socketkitVia(
  relay: { url: string; hint: string },
  args: string[],
  extra: string[] = [],
  options: { cwd?: string; stdin?: string } = {},
): Program {
  if (!relay.url.startsWith("ws://127.0.0.1:") || !relay.hint.startsWith("tcp:127.0.0.1:"))
    throw new Error(
      `Refusing to run socketkit on servers off loopback: ${relay.url} ${relay.hint}`,
    );
  return start(
    process.execPath,
    [
      "--import",
      "tsx",
      `${ROOT}src/cli/main.ts`,
      ...args,
      "--relay-url",
      relay.url,
      "--transit-helper",
      relay.hint,
      ...extra,
    ],
    options,
  );
}
