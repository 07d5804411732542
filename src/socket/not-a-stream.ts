/**
 * What a backend without stream connections (a datagram socket, or a native socket of a
 * type Node.js lacks) answers to the stream-only calls of {@link SocketBackend}: the same
 * refusals, written once.
 * @module
 */
import { UnsupportedError } from "../core/errors.ts";
import { badState } from "./checks.ts";
import type { SocketBackend } from "./socket-backend.ts";
import type { StreamConnection } from "./stream-connection.ts";

/** The stream-only calls of a backend that has no stream connection: each refuses. */
export abstract class NotAStreamBackend {
  async dup(): Promise<SocketBackend> {
    return this.dupFd("dup");
  }

  dupFd(action: string): never {
    throw new UnsupportedError(
      `Cannot ${action}: only a connected or listening stream socket can be duplicated here`,
    );
  }

  connection(action: string): StreamConnection {
    throw badState(`Cannot ${action}: socket is not connected`, "ENOTCONN");
  }

  setIdleTimeout(): void {
    throw badState("Cannot set the idle timeout: socket is not connected", "ENOTCONN");
  }
}
