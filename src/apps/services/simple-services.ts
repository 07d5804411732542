/**
 * The small services of the RFCs and the seeds: echo (RFC 862), discard (RFC 863), daytime
 * (RFC 867), upper (the seed's first server) and greet (the Spanish seed's server).
 * @module
 */

import { StringDecoder } from "node:string_decoder";
import { BaseRequestHandler } from "../../server/base-request-handler.ts";
import { DatagramRequestHandler } from "../../server/datagram-request-handler.ts";
import type { Service } from "./service.ts";

/** RFC 862: every byte comes back. */
class EchoStream extends BaseRequestHandler {
  override async handle(): Promise<void> {
    for (
      let data = await this.request.recv(65536);
      data.length > 0;
      data = await this.request.recv(65536)
    ) {
      await this.request.sendall(data);
    }
  }
}
class EchoDatagram extends DatagramRequestHandler {
  override async handle(): Promise<void> {
    await this.wfile.write(await this.rfile.read());
  }
}
export const echo: Service = {
  name: "echo",
  summary: "every byte comes back (RFC 862)",
  stream: EchoStream,
  datagram: EchoDatagram,
};

/** RFC 863: everything is read and dropped. */
class DiscardStream extends BaseRequestHandler {
  override async handle(): Promise<void> {
    while ((await this.request.recv(65536)).length > 0) {
      // dropped
    }
  }
}
class DiscardDatagram extends DatagramRequestHandler {}
export const discard: Service = {
  name: "discard",
  summary: "everything sent is dropped (RFC 863)",
  stream: DiscardStream,
  datagram: DiscardDatagram,
};

/** The date and time as RFC 867 suggests: a human-readable line. */
export function daytimeLine(now = new Date()): string {
  return `${now.toUTCString()}\r\n`;
}
class DaytimeStream extends BaseRequestHandler {
  override async handle(): Promise<void> {
    await this.request.sendall(daytimeLine());
  }
}
class DaytimeDatagram extends DatagramRequestHandler {
  override async handle(): Promise<void> {
    await this.wfile.write(daytimeLine());
  }
}
export const daytime: Service = {
  name: "daytime",
  summary: "the date and time, then close (RFC 867)",
  stream: DaytimeStream,
  datagram: DaytimeDatagram,
};

/**
 * The seed's first server: what arrives comes back upper-cased, as it arrives (the seed's
 * client sends text without a newline and waits). A UTF-8 character split between two
 * reads is kept whole.
 */
class UpperStream extends BaseRequestHandler {
  override async handle(): Promise<void> {
    const decoder = new StringDecoder("utf8");
    for (
      let data = await this.request.recv(65536);
      data.length > 0;
      data = await this.request.recv(65536)
    ) {
      const text = decoder.write(data);
      if (text.length > 0) await this.request.sendall(text.toUpperCase());
    }
    const rest = decoder.end();
    if (rest.length > 0) await this.request.sendall(rest.toUpperCase());
  }
}
class UpperDatagram extends DatagramRequestHandler {
  override async handle(): Promise<void> {
    await this.wfile.write((await this.rfile.read()).toString("utf8").toUpperCase());
  }
}
export const upper: Service = {
  name: "upper",
  summary: "what is sent comes back upper-cased",
  stream: UpperStream,
  datagram: UpperDatagram,
};

/** The Spanish seed's server: a thank-you, then close. */
export const GREETING = "Thank you for connecting";
class GreetStream extends BaseRequestHandler {
  override async handle(): Promise<void> {
    await this.request.sendall(GREETING);
  }
}
class GreetDatagram extends DatagramRequestHandler {
  override async handle(): Promise<void> {
    await this.wfile.write(GREETING);
  }
}
export const greet: Service = {
  name: "greet",
  summary: `sends "${GREETING}" and closes`,
  stream: GreetStream,
  datagram: GreetDatagram,
};
