/**
 * The services database (`/etc/services`): Python's `socket.getservbyname` and
 * `socket.getservbyport`, and the service names `getaddrinfo` and `getnameinfo` read. The
 * file is parsed as glibc's files backend parses it, and parsed again only when it changes.
 *
 * @example
 * ```ts
 * import { getservbyname, getservbyport } from "socketkit";
 * console.log(await getservbyname("http", "tcp")); // 80
 * console.log(await getservbyport(22)); // "ssh"
 * ```
 * @module
 */
import { join } from "node:path";
import { OverflowError, SocketError } from "../core/errors.ts";
import { readParsed, unreadable } from "./system-file.ts";

/** Where the system keeps its services database. */
export const SERVICES_FILE =
  process.platform === "win32"
    ? join(process.env.SystemRoot ?? "C:\\Windows", "System32", "drivers", "etc", "services")
    : "/etc/services";

/** Options of {@link getservbyname} and {@link getservbyport}. */
export interface GetservOptions {
  /** The services database to read. @default "/etc/services" */
  servicesFile?: string;
}

/** One line of the services database: `name port/proto aliases...`. */
export interface ServiceEntry {
  /** The official name. */
  name: string;
  /** The port, 0-65535. */
  port: number;
  /** The protocol name, `"tcp"` or `"udp"` mostly. */
  proto: string;
  /** Other names of the service. */
  aliases: string[];
}

/**
 * The entries of a services file, in file order. As glibc: `#` starts a comment, fields
 * are separated by white space, and a line without `name port/proto` is skipped.
 */
export function parseServices(text: string): ServiceEntry[] {
  const entries: ServiceEntry[] = [];
  for (const raw of text.split("\n")) {
    const hash = raw.indexOf("#");
    const fields = (hash >= 0 ? raw.slice(0, hash) : raw).split(/[ \t\r\f\v]+/).filter(Boolean);
    const [name, portProto, ...aliases] = fields;
    if (name === undefined || portProto === undefined) continue;
    const m = /^(\d+)\/(.+)$/.exec(portProto);
    if (m === null) continue;
    // glibc keeps the port as a 16-bit number, so does this.
    entries.push({ name, port: Number(m[1]) & 0xffff, proto: m[2] as string, aliases });
  }
  return entries;
}

/** The entries of a services file, by name and alias, and by port, each in file order. */
interface Database {
  byName: Map<string, ServiceEntry[]>;
  byPort: Map<number, ServiceEntry[]>;
}

function parseDatabase(text: string): Database {
  const byName = new Map<string, ServiceEntry[]>();
  const byPort = new Map<number, ServiceEntry[]>();
  const add = <K>(map: Map<K, ServiceEntry[]>, key: K, e: ServiceEntry) => {
    const list = map.get(key);
    if (list === undefined) map.set(key, [e]);
    else if (list[list.length - 1] !== e) list.push(e);
  };
  for (const e of parseServices(text)) {
    add(byName, e.name, e);
    for (const alias of e.aliases) add(byName, alias, e);
    add(byPort, e.port, e);
  }
  return { byName, byPort };
}

/** The database in `file`, or why it cannot be read (`"/etc/services does not exist"`). */
async function load(file: string): Promise<Database | { missing: string; cause: unknown }> {
  try {
    return await readParsed(file, parseDatabase);
  } catch (err) {
    return { missing: unreadable(file, err), cause: err };
  }
}

function first(
  list: ServiceEntry[] | undefined,
  proto: string | undefined,
): ServiceEntry | undefined {
  return list?.find((e) => proto === undefined || e.proto === proto);
}

/** @internal The port of a service for `proto`, or a reason there is none. */
export async function findServicePort(
  name: string,
  proto: string | undefined,
  file = SERVICES_FILE,
): Promise<number | { reason: string; cause?: unknown }> {
  const db = await load(file);
  if ("missing" in db) return { reason: `service/proto not found: ${db.missing}`, cause: db.cause };
  const entry = first(db.byName.get(name), proto);
  return entry?.port ?? { reason: `service/proto not found in ${file}` };
}

/** @internal The name of the service on a port for `proto`, or null (also when no database). */
export async function findServiceName(
  port: number,
  proto: string | undefined,
  file = SERVICES_FILE,
): Promise<string | null> {
  const db = await load(file);
  if ("missing" in db) return null;
  return first(db.byPort.get(port), proto)?.name ?? null;
}

function notFound(action: string, reason: string, cause?: unknown): SocketError {
  return new SocketError(`Cannot ${action}: ${reason}`, {
    code: "ERR_SERVICE_NOT_FOUND",
    cause,
  });
}

function describeCall(name: string, first: unknown, proto: string | undefined): string {
  const args = [JSON.stringify(first), ...(proto === undefined ? [] : [JSON.stringify(proto)])];
  return `${name}(${args.join(", ")})`;
}

/**
 * The port of a service by its name or an alias, as Python's `socket.getservbyname`:
 * the first entry of the services database for `proto` (any protocol when left out).
 * Throws `SocketError` with code `ERR_SERVICE_NOT_FOUND` when there is none (Python's
 * `OSError: service/proto not found`), the message saying so, or that the database
 * file is missing.
 *
 * @example
 * ```ts
 * import { getservbyname } from "socketkit";
 * console.log(await getservbyname("domain", "udp")); // 53
 * console.log(await getservbyname("www")); // 80, as an alias of http
 * ```
 */
export async function getservbyname(
  name: string,
  proto?: string,
  options: GetservOptions = {},
): Promise<number> {
  const action = describeCall("getservbyname", name, proto);
  if (typeof name !== "string" || (proto !== undefined && typeof proto !== "string")) {
    throw new SocketError(`Cannot ${action}: name and proto must be strings`, { code: "EINVAL" });
  }
  const found = await findServicePort(name, proto, options.servicesFile);
  if (typeof found === "number") return found;
  throw notFound(action, found.reason, found.cause);
}

/**
 * The name of the service on a port, as Python's `socket.getservbyport`: the official
 * name of the first entry of the services database for `proto` (any protocol when left
 * out). Throws `OverflowError` for a port outside 0-65535, and `SocketError` with code
 * `ERR_SERVICE_NOT_FOUND` when there is none (Python's `OSError: port/proto not found`),
 * the message saying so, or that the database file is missing.
 *
 * @example
 * ```ts
 * import { getservbyport } from "socketkit";
 * console.log(await getservbyport(53, "udp")); // "domain"
 * ```
 */
export async function getservbyport(
  port: number,
  proto?: string,
  options: GetservOptions = {},
): Promise<string> {
  const action = describeCall("getservbyport", port, proto);
  if (typeof port !== "number" || !Number.isInteger(port)) {
    throw new SocketError(`Cannot ${action}: port must be an integer`, { code: "EINVAL" });
  }
  if (port < 0 || port > 65535) throw new OverflowError(`Cannot ${action}: port must be 0-65535`);
  if (proto !== undefined && typeof proto !== "string") {
    throw new SocketError(`Cannot ${action}: proto must be a string`, { code: "EINVAL" });
  }
  const file = options.servicesFile ?? SERVICES_FILE;
  const db = await load(file);
  if ("missing" in db) throw notFound(action, `port/proto not found: ${db.missing}`, db.cause);
  const entry = first(db.byPort.get(port), proto);
  if (entry === undefined) throw notFound(action, `port/proto not found in ${file}`);
  return entry.name;
}
