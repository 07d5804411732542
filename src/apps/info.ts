import { networkInterfaces } from "node:os";
import { gethostname } from "../socket/getaddrinfo.ts";

/** One address of a network interface. */
export interface InterfaceAddress {
  interface: string;
  family: "IPv4" | "IPv6";
  address: string;
  netmask: string;
  internal: boolean;
}

/** What `socketkit info` reports. */
export interface HostInfo {
  hostname: string;
  addresses: InterfaceAddress[];
}

/**
 * The host name and every interface address, as `socketkit info` prints them.
 *
 * @example
 * ```ts
 * import { hostInfo } from "./info.ts";
 * const { hostname, addresses } = hostInfo();
 * console.log(hostname, addresses.map((a) => a.address));
 * ```
 */
export function hostInfo(): HostInfo {
  const addresses: InterfaceAddress[] = [];
  for (const [name, list] of Object.entries(networkInterfaces())) {
    for (const a of list ?? []) {
      addresses.push({
        interface: name,
        family: a.family === "IPv6" ? "IPv6" : "IPv4",
        address: a.address,
        netmask: a.netmask,
        internal: a.internal,
      });
    }
  }
  return { hostname: gethostname(), addresses };
}

/** The report as text lines. */
export function formatHostInfo(info: HostInfo): string {
  const lines = [`hostname: ${info.hostname}`];
  for (const a of info.addresses) {
    const tag = a.internal ? " (loopback)" : "";
    lines.push(
      `${a.interface.padEnd(12)} ${a.family.padEnd(5)} ${a.address}  netmask ${a.netmask}${tag}`,
    );
  }
  return `${lines.join("\n")}\n`;
}
