import type { SocketAddress } from "../core/address.ts";
import { BaseRequestHandler } from "./base-request-handler.ts";
import type { BaseServer } from "./base-server.ts";
import { DatagramReader } from "./datagram-reader.ts";
import { DatagramWriter } from "./datagram-writer.ts";
import type { DatagramRequest } from "./udp-server.ts";

/**
 * Python's `socketserver.DatagramRequestHandler`: `rfile.read()` returns the datagram,
 * and what is written to `wfile` goes back to the sender in one datagram.
 */
export class DatagramRequestHandler extends BaseRequestHandler<DatagramRequest> {
  /** The datagram (ready from the start; Python makes it in `setup()`). */
  rfile: DatagramReader;
  /** The reply. */
  wfile: DatagramWriter;

  constructor(
    request: DatagramRequest,
    clientAddress: SocketAddress,
    server: BaseServer<DatagramRequest>,
  ) {
    super(request, clientAddress, server);
    this.rfile = new DatagramReader(request[0]);
    this.wfile = new DatagramWriter();
  }

  override async finish(): Promise<void> {
    const reply = this.wfile.getvalue();
    if (reply.length > 0)
      await this.request[1].sendto(reply, this.clientAddress as [string, number]);
  }
}
