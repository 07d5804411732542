/**
 * Python's `print`, `repr` and `input` for the example programs, so that a socketkit
 * port prints exactly what the Python original prints (`b'...'`, `('127.0.0.1', 5000)`).
 * @module
 */
import { createInterface } from "node:readline";
import { formatAddress, type Socket, type SocketAddress } from "socketkit";

/** Python's `repr` of bytes: `b'Thank you\n'`, with Python's escapes and quote choice. */
function bytesRepr(data: Buffer): string {
  const quote = data.includes(0x27) && !data.includes(0x22) ? '"' : "'";
  let out = `b${quote}`;
  for (const byte of data) {
    if (byte === 0x5c) out += "\\\\";
    else if (byte === 0x09) out += "\\t";
    else if (byte === 0x0a) out += "\\n";
    else if (byte === 0x0d) out += "\\r";
    else if (byte === quote.charCodeAt(0)) out += `\\${quote}`;
    else if (byte < 0x20 || byte >= 0x7f) out += `\\x${byte.toString(16).padStart(2, "0")}`;
    else out += String.fromCharCode(byte);
  }
  return `${out}${quote}`;
}

/** Python's `repr` for the values the examples print: bytes, str, numbers, tuples, lists. */
export function repr(value: unknown): string {
  if (Buffer.isBuffer(value)) return bytesRepr(value);
  if (typeof value === "string") {
    return value.includes("'") && !value.includes('"')
      ? `"${value}"`
      : `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
  }
  if (Array.isArray(value)) {
    // Addresses are tuples in Python; the examples print no other arrays but lists of bytes.
    if (value.every((v) => Buffer.isBuffer(v))) return `[${value.map(repr).join(", ")}]`;
    return `(${value.map(repr).join(", ")})`;
  }
  return String(value);
}

/** Python's `str()`: strings as they are, everything else as `repr`. */
export function str(value: unknown): string {
  return typeof value === "string" ? value : repr(value);
}

/** Python's `print(*args)`. */
export function print(...args: unknown[]): void {
  process.stdout.write(`${args.map(str).join(" ")}\n`);
}

let lines: AsyncIterator<string> | undefined;

/**
 * Python's `input(prompt)`: writes the prompt, reads one line from stdin (a terminal or a
 * pipe), and returns it without its newline; `null` at end of input (Python raises EOFError).
 */
export async function input(prompt = ""): Promise<string | null> {
  process.stdout.write(prompt);
  lines ??= createInterface({ input: process.stdin, terminal: false })[Symbol.asyncIterator]();
  const next = await lines.next();
  return next.done ? null : next.value;
}

/** Stops reading stdin so the program can exit. */
export function closeInput(): void {
  process.stdin.destroy();
}

/**
 * Port and host from the command line: `npx tsx examples/x.ts [PORT [HOST]]`, defaulting
 * to the tutorial's values. Port 0 picks a free port.
 */
export function args(defaultPort: number, defaultHost = "127.0.0.1"): [port: number, host: string] {
  const port = process.argv[2] === undefined ? defaultPort : Number(process.argv[2]);
  return [port, process.argv[3] ?? defaultHost];
}

/** Prints `listening on HOST:PORT` to stderr, as every socketkit server does when ready. */
export function ready(server: Socket): void {
  const address: SocketAddress = server.getsockname();
  process.stderr.write(`listening on ${formatAddress(address)}\n`);
}
