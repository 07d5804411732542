import {
  AF_INET6,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SOCK_STREAM,
  SOL_SOCKET,
} from "../core/constants.ts";
import { toSocketError } from "../core/errors.ts";
import { native } from "./index.ts";

const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;

/**
 * A listening TCP socket with SO_REUSEPORT (and SO_REUSEADDR) set before it binds, made
 * by the native addon for Node.js versions that cannot set it themselves. Returns its
 * file descriptor, for `net.Server.listen({ fd })`. Several processes can each make one
 * on the same address; the kernel spreads the connections among them.
 */
export function reusePortListener(
  family: number,
  host: string,
  port: number,
  backlog: number,
  ipv6Only: boolean,
  label: string,
): number {
  const addon = native("TCP socket with SO_REUSEPORT on this Node.js");
  const fd = addon.socket(family, SOCK_STREAM, 0);
  try {
    addon.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    addon.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    if (family === AF_INET6) addon.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, ipv6Only ? 1 : 0);
    addon.bind(fd, { family: family === AF_INET6 ? "inet6" : "inet", host, port });
    addon.listen(fd, backlog);
    return fd;
  } catch (err) {
    addon.close(fd);
    throw toSocketError(err, `bind ${label}`);
  }
}
