import { once } from "node:events";
import type { Readable, Writable } from "node:stream";
import { SHUT_WR } from "../core/constants.ts";
import type { Socket } from "../socket/socket.ts";

const LF = 0x0a;
const CR = 0x0d;

/**
 * Socket → sink until end of stream (a null sink drops the bytes), honouring the sink's
 * backpressure. A socket we closed ourselves ("q" in an interactive session) ends it too.
 */
export async function socketToSink(s: Socket, sink: Writable | null): Promise<void> {
  for (;;) {
    let data: Buffer;
    try {
      data = await s.recv(65536);
    } catch (err) {
      if (s.closed) return;
      throw err;
    }
    if (data.length === 0) return;
    if (sink !== null && !sink.write(data)) await once(sink, "drain");
  }
}

/** Where typed or piped input goes: a socket, or every client of `listen --keep-open`. */
export interface ByteTarget {
  sendall(data: Buffer | string): Promise<void>;
  /** Called with SHUT_WR at the end of the input. */
  shutdown(how: number): void;
  close(): Promise<void>;
  readonly closed: boolean;
}

/** Input → socket, optionally with CRLF line ends; half-closes at the end of the input. */
export async function inputToSocket(input: Readable, s: ByteTarget, crlf = false): Promise<void> {
  let lastWasCR = false;
  for await (const chunk of input) {
    if (s.closed) return;
    let data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    if (crlf) [data, lastWasCR] = toCrlf(data, lastWasCR);
    await s.sendall(data);
  }
  if (!s.closed) s.shutdown(SHUT_WR);
}

/** Turns lone LFs into CRLF; `lastWasCR` carries a CR at the end of the previous chunk. */
export function toCrlf(data: Buffer, lastWasCR: boolean): [Buffer, boolean] {
  let extra = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] === LF && (i === 0 ? !lastWasCR : data[i - 1] !== CR)) extra++;
  }
  const ends = data.length > 0 ? data[data.length - 1] === CR : lastWasCR;
  if (extra === 0) return [data, ends];
  const out = Buffer.allocUnsafe(data.length + extra);
  let j = 0;
  for (let i = 0; i < data.length; i++) {
    const b = data[i] as number;
    if (b === LF && (i === 0 ? !lastWasCR : data[i - 1] !== CR)) out[j++] = CR;
    out[j++] = b;
  }
  return [out, ends];
}
