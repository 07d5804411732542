/**
 * Network interface names and indexes, for the `%zone` of IPv6 link-local addresses
 * (`fe80::1%eth0` is scope id 2 when eth0 is interface 2), as `if_nametoindex` and
 * `if_indextoname` give them. Node.js has neither: on Linux they come from
 * `/sys/class/net/NAME/ifindex`; elsewhere they are unknown (null).
 * @module
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

const SYS_NET = "/sys/class/net";

/**
 * The index of interface `zone`, a number given as text (`"2"`) being that number: null
 * when there is no such interface, or `undefined` when this system cannot tell.
 */
export async function interfaceIndex(zone: string): Promise<number | null | undefined> {
  if (/^\d+$/.test(zone)) return Number(zone);
  if (process.platform !== "linux") return undefined;
  if (zone === "" || zone.includes("/") || zone === "." || zone === "..") return null;
  try {
    const n = Number((await readFile(join(SYS_NET, zone, "ifindex"), "utf8")).trim());
    return Number.isInteger(n) ? n : null;
  } catch (err) {
    return (err as { code?: unknown }).code === "ENOENT" ? null : undefined;
  }
}

/** The name of the interface with index `index`, or null when unknown. */
export async function interfaceName(index: number): Promise<string | null> {
  if (process.platform !== "linux") return null;
  try {
    for (const name of await readdir(SYS_NET)) {
      const n = await readFile(join(SYS_NET, name, "ifindex"), "utf8").catch(() => "");
      if (Number(n.trim()) === index) return name;
    }
  } catch {
    // No /sys here (a container without it): the caller prints the number.
  }
  return null;
}
