import { BlockList, isIP } from "node:net";
import { unbracket } from "./address.ts";
import { AccessListError } from "./errors.ts";

/** Options of {@link AccessList}. */
export interface AccessListOptions {
  /**
   * Addresses and CIDR ranges (IPv4 or IPv6) allowed in; when any is given, every other
   * peer is refused. Each string may hold several entries, comma-separated.
   * @default [] (every peer is allowed)
   */
  allow?: readonly string[];
  /**
   * Addresses and CIDR ranges refused, whatever `allow` says. Each string may hold
   * several entries, comma-separated.
   * @default [] (no peer is denied)
   */
  deny?: readonly string[];
}

/** Why {@link AccessList.refusal} refuses a peer. */
export type AccessRefusal = "denied" | "not allowed";

/**
 * Which peers a server lets in, from allow and deny lists of IPv4 and IPv6 addresses and
 * CIDR ranges: a peer on the deny list is refused; when there is an allow list, only the
 * peers on it get in; with neither list, everyone does. An IPv4-mapped IPv6 peer
 * (`::ffff:10.1.2.3`, as a dual-stack server sees IPv4 clients) is matched against the
 * IPv4 entries. The matching is `node:net`'s `BlockList`.
 *
 * @example
 * ```ts
 * import { AccessList } from "socketkit";
 * const access = new AccessList({ allow: ["127.0.0.1,10.0.0.0/8", "::1"], deny: ["10.1.0.0/16"] });
 * access.allows("10.2.3.4"); // true
 * access.allows("10.1.2.3"); // false: denied
 * access.allows("192.168.1.5"); // false: not allowed
 * ```
 */
export class AccessList {
  readonly #allow: BlockList | null;
  readonly #deny: BlockList | null;

  /** Throws `AccessListError` (`ERR_ACCESS_LIST`) naming the first entry it cannot read. */
  constructor(options: AccessListOptions = {}) {
    this.#allow = parseList(options.allow, "allow");
    this.#deny = parseList(options.deny, "deny");
  }

  /** True when there is neither an allow nor a deny entry: every peer is allowed. */
  get empty(): boolean {
    return this.#allow === null && this.#deny === null;
  }

  /** Whether a peer with this IP address may come in. */
  allows(address: string): boolean {
    return this.refusal(address) === null;
  }

  /**
   * Why a peer with this IP address is refused, or null when it may come in. An address
   * that is not an IP address (a Unix socket peer) matches no entry.
   */
  refusal(address: string): AccessRefusal | null {
    if (this.empty) return null;
    const ip = peerAddress(address);
    const version = isIP(ip);
    if (version === 0) return this.#allow === null ? null : "not allowed";
    const type = version === 6 ? "ipv6" : "ipv4";
    if (this.#deny?.check(ip, type)) return "denied";
    if (this.#allow !== null && !this.#allow.check(ip, type)) return "not allowed";
    return null;
  }
}

/** The entries of one list, or null when it has none. */
function parseList(lists: readonly string[] | undefined, kind: string): BlockList | null {
  if (lists === undefined || lists.length === 0) return null;
  const block = new BlockList();
  for (const list of lists) for (const entry of list.split(",")) addEntry(block, entry, kind);
  return block;
}

/** Adds one address or CIDR range (`10.0.0.0/8`, `::1`, `[fe80::]/10`) to `block`. */
function addEntry(block: BlockList, raw: string, kind: string): void {
  const entry = raw.trim();
  const invalid = (why: string) =>
    new AccessListError(`Invalid --${kind} entry '${entry}': ${why}`);
  if (entry === "") throw invalid("empty (a stray comma?)");
  const slash = entry.indexOf("/");
  const host = unbracket(slash === -1 ? entry : entry.slice(0, slash));
  if (host.includes("%")) throw invalid("a zone index (%...) cannot be matched");
  const version = isIP(host);
  if (version === 0) throw invalid("not an IPv4 or IPv6 address or CIDR range");
  const type = version === 6 ? "ipv6" : "ipv4";
  if (slash === -1) {
    block.addAddress(host, type);
    return;
  }
  const bits = version === 6 ? 128 : 32;
  const prefixText = entry.slice(slash + 1);
  const prefix = Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText) || prefix > bits) {
    throw invalid(`the prefix length must be 0-${bits} for an IPv${version} range`);
  }
  // Host bits after the prefix are ignored: 10.1.2.3/8 is 10.0.0.0/8, as iptables takes it.
  block.addSubnet(host, prefix, type);
}

/** A peer's host as `BlockList` takes it: no brackets, no zone index (`fe80::1%eth0`). */
function peerAddress(address: string): string {
  const host = unbracket(address);
  const zone = host.indexOf("%");
  return zone === -1 ? host : host.slice(0, zone);
}
