import { once } from "node:events";
import type { Readable, Writable } from "node:stream";
import { setTimeout as delay } from "node:timers/promises";
import type { ConnectionOptions } from "node:tls";
import { formatAddress, ipVersion } from "../core/address.ts";
import { AF_INET, AF_INET6, familyName, SOCK_DGRAM, SOCK_STREAM } from "../core/constants.ts";
import { GaiError, TimeoutError } from "../core/errors.ts";
import { quote } from "../core/escape.ts";
import { createConnection } from "../socket/create-connection.ts";
import { getaddrinfo } from "../socket/getaddrinfo.ts";
import { socket } from "../socket/socket.ts";
import { inputToSocket, socketToSink, toCrlf } from "./pump.ts";
import { typeLines } from "./type-lines.ts";

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** Where the bytes to send come from. @default process.stdin */
  input?: Readable;
  /** Where received bytes go. @default process.stdout */
  output?: Writable;
  /** Connect to this Unix socket path instead of HOST PORT. @default undefined */
  unix?: string;
  /** Use UDP: each chunk of input is one datagram. @default false */
  udp?: boolean;
  /** Send line ends as CRLF (what telnet-style servers expect). @default false */
  crlf?: boolean;
  /**
   * Seconds to wait: for the connection (TCP, Unix), and for replies after the input ends
   * (UDP). @default null for TCP (no limit), 1 for UDP
   */
  timeout?: number | null;
  /**
   * Line-interactive, as the seed clients are: a prompt on `prompts`, each line sent with
   * its line end, and `q` alone on a line closing the connection. The CLI turns it on when
   * standard input is a terminal. @default false
   */
  interactive?: boolean;
  /** Where the interactive prompt goes (stdout stays the peer's bytes). @default process.stderr */
  prompts?: Writable;
  /** Run TLS over the connection (TCP and Unix). @default undefined */
  tls?: ConnectionOptions;
  /** With `tls`: the server certificate's SHA-256 fingerprint to accept. */
  fingerprint256?: string;
  /**
   * Lines about the connection (`Connected to HOST:PORT`, as `ncat -v` prints them); null
   * prints none. @default null
   */
  log?: ((line: string) => void) | null;
  /**
   * Only connect, report (through `log`) and close, sending nothing: a one-port scan, as
   * `nc -z`. TCP and Unix. @default false
   */
  zeroIo?: boolean;
  /** Connect from this local address and port (`nc -s ADDR -p PORT`; "" or 0 for any). */
  source?: [host: string, port: number];
  /** Resolve HOST to this family only: AF_INET (`nc -4`) or AF_INET6 (`nc -6`). @default any */
  family?: number;
  /** HOST must be a numeric address: names are refused, not looked up (`nc -n`). @default false */
  numeric?: boolean;
  /**
   * Seconds to go on after the input ends (having sent FIN) before quitting even though
   * the peer has not closed, as `nc -q S`; 0 quits at the end of the input; null waits
   * for the peer. TCP and Unix. @default null
   */
  quitAfter?: number | null;
  /**
   * Seconds the connection may go without a byte moving either way before it is given up
   * with an error (`ncat -i`). TCP and Unix. @default null (no limit)
   */
  idleTimeout?: number | null;
}

/** Largest datagram sent: longer input chunks are split. */
const MAX_DATAGRAM = 65507;
const _LF = 0x0a;
const _CR = 0x0d;

/**
 * What `socketkit connect` does, as netcat: input to the socket, the socket to output,
 * byte for byte. When the input ends it half-closes (sends FIN) and keeps copying until
 * the peer closes, so a reply sent after the request is complete is never cut off.
 *
 * @example
 * ```ts
 * import { connect } from "./connect.ts";
 * await connect("127.0.0.1", 5000); // stdin → socket → stdout
 * ```
 */
export async function connect(
  host: string,
  port: number,
  options: ConnectOptions = {},
): Promise<void> {
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stdout;
  const target = options.unix === undefined ? await resolveTarget(host, port, options) : null;
  if (options.udp) return connectUdp(target ?? [host, port], input, output, options);
  const s = await createConnection(options.unix ?? target ?? [host, port], {
    timeout: options.timeout ?? null,
    tls: options.tls,
    fingerprint256: options.fingerprint256,
    ...(options.source === undefined ? {} : { sourceAddress: options.source }),
  });
  s.settimeout(null);
  try {
    options.log?.(`Connected to ${formatAddress(options.unix ?? s.getpeername())}`);
    if (options.zeroIo) return;
    if (options.idleTimeout) s.setIdleTimeout(options.idleTimeout);
    const typed = options.interactive
      ? typeLines(input, options.prompts ?? process.stderr, s, options.crlf ?? false)
      : null;
    const receiving = socketToSink(s, typed === null ? output : typed.above(output));
    const sending = typed?.done ?? inputToSocket(input, s, options.crlf ?? false);
    // The peer closing ends the session, as with netcat: stop reading the input then too
    // (an open terminal or pipe must not keep the process alive).
    let inputDone = false;
    const sent = sending.finally(() => {
      inputDone = true;
    });
    const quitAfter = options.quitAfter ?? null;
    const ended =
      quitAfter === null
        ? sent.then(() => receiving)
        : sent.then(() =>
            Promise.race([receiving, delay(quitAfter * 1000, undefined, { ref: false })]),
          );
    try {
      await Promise.race([receiving, ended]);
    } finally {
      // Also when the receiving failed (an idle timeout, a reset): the input must not keep
      // the process alive after the connection is gone.
      if (!inputDone) {
        sent.catch(() => {}); // the copy ends with the stream we destroy
        input.destroy();
      }
    }
  } finally {
    await s.close();
  }
}

/**
 * The numeric address to connect to when the options narrow the lookup (`family`,
 * `numeric`), else null (createConnection then tries every address of HOST in turn).
 */
async function resolveTarget(
  host: string,
  port: number,
  options: ConnectOptions,
): Promise<[string, number] | null> {
  if (options.numeric && ipVersion(host) === 0) {
    throw new GaiError(
      `Cannot resolve ${quote(host)}: names are not looked up with -n (--numeric): give an address`,
      { code: "EAI_NONAME" },
    );
  }
  if (options.family === undefined) return null;
  const infos = await getaddrinfo(host, port, { family: options.family, type: SOCK_STREAM });
  const first = infos[0];
  if (first === undefined) {
    throw new GaiError(`Cannot resolve ${quote(host)}: no ${familyName(options.family)} address`, {
      code: "EAI_ADDRFAMILY",
    });
  }
  return [(first[4] as [string, number])[0], port];
}

async function connectUdp(
  [host, port]: [string, number],
  input: Readable,
  output: Writable,
  options: ConnectOptions,
): Promise<void> {
  const [info] = await getaddrinfo(host, port, { type: SOCK_DGRAM });
  const family = info?.[0] === AF_INET6 ? AF_INET6 : AF_INET;
  await using s = socket(family, SOCK_DGRAM);
  if (options.source !== undefined) await s.bind(options.source);
  await s.connect([host, port]);
  options.log?.(`Connected to ${formatAddress(s.getpeername())}`);
  // No end of stream in UDP: once the input has ended, replies are awaited until the line
  // has been quiet for `timeout`. Every recv has that timeout from the start (one waiting
  // without a limit when the input ends would wait for ever).
  const quiet = (options.timeout ?? 1) * 1000;
  s.settimeout(quiet / 1000);
  let endedAt: number | null = null;
  let lastReply = 0;
  const receiving = (async () => {
    for (;;) {
      let data: Buffer;
      try {
        data = await s.recv(65535);
      } catch (err) {
        if (!(err instanceof TimeoutError)) throw err;
        if (endedAt !== null && performance.now() - Math.max(endedAt, lastReply) >= quiet - 1) {
          return;
        }
        continue;
      }
      lastReply = performance.now();
      if (!output.write(data)) await once(output, "drain");
    }
  })();
  // Not awaited until the input ends: a failure meanwhile must not go unhandled.
  receiving.catch(() => {});
  let lastWasCR = false;
  for await (const chunk of input) {
    let data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    if (options.crlf) [data, lastWasCR] = toCrlf(data, lastWasCR);
    for (let off = 0; off < data.length; off += MAX_DATAGRAM) {
      await s.send(data.subarray(off, off + MAX_DATAGRAM));
    }
  }
  endedAt = performance.now();
  await receiving;
}
