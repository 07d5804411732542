import { isDisconnect } from "../../core/errors.ts";
import { BaseRequestHandler } from "../../server/base-request-handler.ts";
import { DatagramRequestHandler } from "../../server/datagram-request-handler.ts";
import type { Service } from "./service.ts";

/** The 95 printable ASCII characters, twice, so any 72-character window is one slice. */
const RING = Buffer.from(
  Array.from({ length: 190 }, (_, i) => String.fromCharCode(32 + (i % 95))).join(""),
  "latin1",
);
const LINE = 72;

/** Line `n` of the RFC 864 pattern: 72 characters starting one further along, then CRLF. */
export function chargenLine(n: number): Buffer {
  const start = n % 95;
  return Buffer.concat([RING.subarray(start, start + LINE), Buffer.from("\r\n")]);
}

/** 95 lines: one whole turn of the pattern, sent as one block. */
const BLOCK = Buffer.concat(Array.from({ length: 95 }, (_, i) => chargenLine(i)));

/**
 * RFC 864 over a stream: the pattern without end, until the client closes. `sendall` waits
 * while the client does not read, so a client that stops reading costs nothing.
 */
class ChargenStream extends BaseRequestHandler {
  override async handle(): Promise<void> {
    // What the client sends is dropped, as the RFC says; its FIN does not stop us.
    void (async () => {
      while ((await this.request.recv(65536)).length > 0) {
        // dropped
      }
    })().catch(() => {});
    try {
      for (;;) await this.request.sendall(BLOCK);
    } catch (err) {
      if (!isDisconnect(err)) throw err; // the client went away: the normal end
    }
  }
}

/** RFC 864 over UDP: a datagram of 0 to 512 characters of the pattern. */
class ChargenDatagram extends DatagramRequestHandler {
  override async handle(): Promise<void> {
    await this.wfile.write(BLOCK.subarray(0, Math.floor(Math.random() * 513)));
  }
}

export const chargen: Service = {
  name: "chargen",
  summary: "the character pattern without end, until the client closes (RFC 864)",
  stream: ChargenStream,
  datagram: ChargenDatagram,
};
