import { once } from "node:events";
import type { Readable, Writable } from "node:stream";
import type { ConnectionOptions } from "node:tls";
import { AF_INET, AF_INET6, SOCK_DGRAM } from "../core/constants.ts";
import { TimeoutError } from "../core/errors.ts";
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
 * import { connect } from "socketkit/apps/connect";
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
  if (options.udp) return connectUdp(host, port, input, output, options);
  const s = await createConnection(options.unix ?? [host, port], {
    timeout: options.timeout ?? null,
    tls: options.tls,
    fingerprint256: options.fingerprint256,
  });
  s.settimeout(null);
  try {
    const receiving = socketToSink(s, output);
    const sending = options.interactive
      ? typeLines(input, options.prompts ?? process.stderr, s, options.crlf ?? false)
      : inputToSocket(input, s, options.crlf ?? false);
    // The peer closing ends the session, as with netcat: stop reading the input then too
    // (an open terminal or pipe must not keep the process alive).
    let inputDone = false;
    const sent = sending.finally(() => {
      inputDone = true;
    });
    await Promise.race([receiving, sent.then(() => receiving)]);
    if (!inputDone) {
      sent.catch(() => {}); // the copy ends with the stream we destroy
      input.destroy();
    }
  } finally {
    await s.close();
  }
}

async function connectUdp(
  host: string,
  port: number,
  input: Readable,
  output: Writable,
  options: ConnectOptions,
): Promise<void> {
  const [info] = await getaddrinfo(host, port, { type: SOCK_DGRAM });
  const family = info?.[0] === AF_INET6 ? AF_INET6 : AF_INET;
  await using s = socket(family, SOCK_DGRAM);
  await s.connect([host, port]);
  let done = false;
  const receiving = (async () => {
    for (;;) {
      let data: Buffer;
      try {
        data = await s.recv(65535);
      } catch (err) {
        if (done && err instanceof TimeoutError) return;
        throw err;
      }
      if (!output.write(data)) await once(output, "drain");
    }
  })();
  let lastWasCR = false;
  for await (const chunk of input) {
    let data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    if (options.crlf) [data, lastWasCR] = toCrlf(data, lastWasCR);
    for (let off = 0; off < data.length; off += MAX_DATAGRAM) {
      await s.send(data.subarray(off, off + MAX_DATAGRAM));
    }
  }
  // No end of stream in UDP: wait for replies until the line has been quiet for `timeout`.
  done = true;
  s.settimeout(options.timeout ?? 1);
  await receiving;
}
