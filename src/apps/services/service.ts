import type { BaseRequestHandler, RequestHandlerClass } from "../../server/base-request-handler.ts";
import type { DatagramRequest } from "../../server/udp-server.ts";
import type { Socket } from "../../socket/socket.ts";

/** A built-in service: its stream handler and its datagram handler. */
export interface Service {
  /** The name `socketkit serve` takes. */
  name: string;
  /** One line for `--help`. */
  summary: string;
  /** Handles a TCP or Unix stream connection. */
  stream: RequestHandlerClass<Socket>;
  /** Handles one UDP datagram. */
  datagram: RequestHandlerClass<DatagramRequest>;
}

export type { BaseRequestHandler };
