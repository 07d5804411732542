/**
 * What a backend without stream connections (a datagram socket, or a native socket of a
 * type Node.js lacks) answers to the stream-only calls of {@link SocketBackend}: the same
 * refusals, written once.
 * @module
 */
import type { SocketAddress } from "../core/address.ts";
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

/**
 * A datagram socket's backend: `recv` and `recvInto` are `recvfrom` without the address,
 * and `sendfile` is refused, as for every datagram socket.
 */
export abstract class DatagramBackendBase extends NotAStreamBackend {
  abstract recvfrom(bufsize: number, timeout: number | null): Promise<[Buffer, SocketAddress]>;

  async sendfile(): Promise<number> {
    throw badState("Cannot sendfile: only SOCK_STREAM sockets are supported", "EINVAL");
  }

  async recv(bufsize: number, timeout: number | null): Promise<Buffer> {
    return (await this.recvfrom(bufsize, timeout))[0];
  }

  async recvInto(buffer: Uint8Array, nbytes: number, timeout: number | null): Promise<number> {
    const [data] = await this.recvfrom(nbytes, timeout);
    buffer.set(data);
    return data.length;
  }
}
