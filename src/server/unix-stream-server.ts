import { lstatSync, rmSync } from "node:fs";
import { AF_UNIX, SOCK_STREAM } from "../core/constants.ts";
import { AddressInUseError, ConnectionRefusedError } from "../core/errors.ts";
import { Socket } from "../socket/socket.ts";
import { TCPServer } from "./tcp-server.ts";
import { isWorkerOf } from "./worker-pool.ts";

/**
 * Python's `socketserver.UnixStreamServer`: a {@link TCPServer} on a Unix socket path.
 * A socket file left by a crashed server is replaced, but only when nothing listens on it;
 * the file is removed when the server closes.
 */
export class UnixStreamServer extends TCPServer {
  #path: string | null = null;

  protected override defaultFamily(): number {
    return AF_UNIX;
  }

  override async serverBind(): Promise<void> {
    const path = this.serverAddress as string;
    try {
      await this.socket.bind(path, { tls: this.options.tls });
    } catch (err) {
      if (!(err instanceof AddressInUseError) || !(await isStaleSocket(path))) throw err;
      rmSync(path, { force: true });
      await this.socket.bind(path, { tls: this.options.tls });
    }
    // Workers share the primary's socket file: only a server on its own removes it.
    this.#path = path.startsWith("\0") || isWorkerOf() ? null : path;
    this.serverAddress = this.socket.getsockname();
  }

  protected override async stopAccepting(): Promise<void> {
    await super.stopAccepting();
    if (this.#path !== null) {
      rmSync(this.#path, { force: true });
      this.#path = null;
    }
  }
}

/** True when `path` is a socket file nobody listens on (connecting is refused). */
async function isStaleSocket(path: string): Promise<boolean> {
  try {
    if (!lstatSync(path).isSocket()) return false;
  } catch {
    return false;
  }
  const probe = new Socket(AF_UNIX, SOCK_STREAM);
  try {
    probe.settimeout(1);
    await probe.connect(path);
    return false;
  } catch (err) {
    return err instanceof ConnectionRefusedError;
  } finally {
    await probe.close();
  }
}
