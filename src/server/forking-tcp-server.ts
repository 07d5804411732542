import type { Address } from "../core/address.ts";
import type { Socket } from "../socket/socket.ts";
import type { RequestHandlerClass } from "./base-request-handler.ts";
import { TCPServer, type TCPServerOptions } from "./tcp-server.ts";
import { WorkerPool } from "./worker-pool.ts";

/**
 * `TCPServer` with one worker process per core by default: the name Python gives a
 * server that serves from several processes.
 */
export class ForkingTCPServer extends TCPServer {
  constructor(
    serverAddress: Address,
    RequestHandlerClass: RequestHandlerClass<Socket>,
    options: TCPServerOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, {
      workers: WorkerPool.defaultWorkers(),
      ...options,
    });
  }
}
