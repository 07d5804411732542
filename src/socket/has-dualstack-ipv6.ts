/**
 * Python's `socket.has_dualstack_ipv6`.
 * @module
 */
import { existsSync } from "node:fs";
import { networkInterfaces } from "node:os";

/**
 * Whether an AF_INET6 stream socket here can take IPv4 connections too (what
 * `createServer(address, { dualstackIpv6: true })` needs), as Python's
 * `socket.has_dualstack_ipv6()`. Python answers by making an IPv6 socket and clearing
 * IPV6_V6ONLY on it, which works wherever the kernel has IPv6; Node.js makes no socket
 * without binding it, so this asks the kernel directly: on Linux, whether it has IPv6 at
 * all (`/proc/net/if_inet6`, absent when IPv6 is disabled at boot); elsewhere, whether
 * any interface has an IPv6 address.
 *
 * @example
 * ```ts
 * import { AF_INET6, createServer, has_dualstack_ipv6 } from "socketkit";
 * await using server = has_dualstack_ipv6()
 *   ? await createServer(["", 0], { family: AF_INET6, dualstackIpv6: true })
 *   : await createServer(["", 0]);
 * ```
 */
export function has_dualstack_ipv6(): boolean {
  if (process.platform === "linux") return existsSync("/proc/net/if_inet6");
  return Object.values(networkInterfaces()).some((list) =>
    (list ?? []).some((i) => i.family === "IPv6"),
  );
}
