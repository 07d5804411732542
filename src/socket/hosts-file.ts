/**
 * The hosts file (`/etc/hosts`), read as glibc's files backend reads it, so that
 * `gethostbyname_ex` and `gethostbyaddr` give the canonical name and the aliases written
 * there, which Node's resolver does not report.
 * @module
 */
import { join } from "node:path";
import { formatPacked, packLiteral } from "./inet.ts";
import { readParsed } from "./system-file.ts";

/** Where the system keeps its hosts file. */
export const HOSTS_FILE =
  process.platform === "win32"
    ? join(process.env.SystemRoot ?? "C:\\Windows", "System32", "drivers", "etc", "hosts")
    : "/etc/hosts";

/** glibc's resolver configuration, for its `multi` setting. */
export const HOST_CONF = "/etc/host.conf";

/** One line of the hosts file: `address name aliases...`. */
export interface HostsLine {
  address: string;
  name: string;
  aliases: string[];
}

/** `[hostname, aliases, addresses]`, as Python's `gethostbyname_ex` and `gethostbyaddr` give. */
export type HostEntry = [hostname: string, aliases: string[], addresses: string[]];

/** The lines of a hosts file that have an address and a name, in file order. */
export function parseHosts(text: string): HostsLine[] {
  const lines: HostsLine[] = [];
  for (const raw of text.split("\n")) {
    const hash = raw.indexOf("#");
    const fields = (hash >= 0 ? raw.slice(0, hash) : raw).split(/[ \t\r\f\v]+/).filter(Boolean);
    const [address, name, ...aliases] = fields;
    if (address !== undefined && name !== undefined) lines.push({ address, name, aliases });
  }
  return lines;
}

/** Whether `/etc/host.conf` says `multi on` (glibc's default is off). */
export function parseMulti(text: string): boolean {
  let multi = false;
  for (const raw of text.split("\n")) {
    const [key, value] = raw.replace(/#.*/, "").trim().split(/\s+/);
    if (key?.toLowerCase() === "multi" && value !== undefined) {
      multi = value.toLowerCase().startsWith("on");
    }
  }
  return multi;
}

/**
 * The address of a line as glibc reads it for a query of `family`: for IPv4, an IPv4
 * address, an IPv4-mapped IPv6 one, or `::1` (which glibc turns into 127.0.0.1); for IPv6,
 * an IPv6 address. Null when the line does not count for that family.
 */
function addressFor(text: string, family: 4 | 6): Buffer | null {
  const pct = text.indexOf("%");
  const packed = packLiteral(pct >= 0 ? text.slice(0, pct) : text);
  if (packed === null) return null;
  if (family === 6) return packed.length === 16 ? packed : null;
  if (packed.length === 4) return packed;
  const mapped = packed.subarray(0, 10).every((b) => b === 0) && packed.readUInt16BE(10) === 0xffff;
  if (mapped) return packed.subarray(12);
  const loopback = packed.subarray(0, 15).every((b) => b === 0) && packed[15] === 1;
  return loopback ? Buffer.from([127, 0, 0, 1]) : null;
}

async function linesOf(file: string): Promise<HostsLine[]> {
  // No hosts file is no answer from it: the resolver is asked next, as glibc does.
  return readParsed(file, parseHosts).catch(() => []);
}

async function multiOn(conf: string): Promise<boolean> {
  const env = process.env.RESOLV_MULTI?.toLowerCase();
  if (env?.startsWith("on")) return true;
  if (env?.startsWith("off")) return false;
  return readParsed(conf, parseMulti).catch(() => false);
}

function sameName(a: string, b: string): boolean {
  return a.length === b.length && a.toLowerCase() === b.toLowerCase();
}

/**
 * What the hosts file says of an IPv4 host name (or alias, in any case): the first line's
 * name and aliases and address and, when `multi` is on, the other lines' addresses and
 * names too, as glibc's `gethostbyname` (duplicates and all). Null when no line names it.
 */
export async function hostsByName(
  name: string,
  file = HOSTS_FILE,
  conf = HOST_CONF,
): Promise<HostEntry | null> {
  let entry: HostEntry | null = null;
  let multi: boolean | undefined;
  for (const line of await linesOf(file)) {
    if (!sameName(line.name, name) && !line.aliases.some((a) => sameName(a, name))) continue;
    const packed = addressFor(line.address, 4);
    if (packed === null) continue;
    if (entry === null) {
      entry = [line.name, [...line.aliases], [formatPacked(packed)]];
      multi = await multiOn(conf);
      if (!multi) break;
      continue;
    }
    entry[2].push(formatPacked(packed));
    entry[1].push(...line.aliases);
    if (line.name !== entry[0]) entry[1].push(line.name);
  }
  return entry;
}

/**
 * What the hosts file says of an address (4 or 16 bytes): the first line with it, as
 * glibc's `gethostbyaddr` reads it. Null when no line has it.
 */
export async function hostsByAddress(packed: Buffer, file = HOSTS_FILE): Promise<HostEntry | null> {
  const family = packed.length === 4 ? 4 : 6;
  for (const line of await linesOf(file)) {
    const a = addressFor(line.address, family);
    if (a?.equals(packed)) return [line.name, [...line.aliases], [formatPacked(packed)]];
  }
  return null;
}
