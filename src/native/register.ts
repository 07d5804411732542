/**
 * Gives the socket layer the native addon's backend and calls (see
 * `socket/socket-backend.ts`): loaded by the package's entry points (`socketkit`,
 * `socketkit/server`, `socketkit/select`), so `socket(AF_UNIX, SOCK_DGRAM)` and the other
 * types Node.js lacks work whichever of them a program imports. The addon itself is
 * loaded when first used.
 * @module
 */
import type { Socket as NetSocket, Server } from "node:net";
import { AF_UNIX, SOCK_DGRAM } from "../core/constants.ts";
import {
  type BackendOptions,
  type NativeCalls,
  type NativeDatagrams,
  type NativeStreams,
  nativeDatagrams,
  registerNative,
  type SocketBackend,
} from "../socket/socket-backend.ts";
import { hasNative, native, nativeMissingReason } from "./index.ts";
import { NativeBackend, needsNative } from "./native-backend.ts";
import { hasReactor, Reactor } from "./reactor.ts";
import { ReactorDatagramBackend } from "./reactor-datagram-backend.ts";
import { ReactorServer } from "./reactor-server.ts";
import { ReactorSocket } from "./reactor-socket.ts";
import { reusePortListener } from "./reuse-port.ts";

let calls: NativeCalls | null = null;
let streams: NativeStreams | null | undefined;
let datagrams: NativeDatagrams | null | undefined;

/** The reactor's stream sockets, as the node:net look-alikes the socket layer takes. */
function reactorStreams(): NativeStreams | null {
  if (!hasReactor()) return null;
  const addon = native("the native I/O path");
  return {
    socket: () => new ReactorSocket(Reactor.shared(), addon) as unknown as NetSocket,
    socketOn: (fd) =>
      new ReactorSocket(Reactor.shared(), addon, fd, { paused: true }) as unknown as NetSocket,
    server: () => new ReactorServer(Reactor.shared(), addon) as unknown as Server,
  };
}

/**
 * A socket of a type Node.js lacks: an AF_UNIX SOCK_DGRAM one on the reactor, like UDP
 * (unless the native I/O path is off: `nativeIO: false`, `SOCKETKIT_NO_NATIVE_IO=1`, or
 * no reactor here); the others (and that one then) on the per-socket `NativeBackend`.
 */
function createNative(
  family: number,
  type: number,
  proto: number,
  options: BackendOptions,
): SocketBackend {
  if (family === AF_UNIX && type === SOCK_DGRAM && proto === 0 && options.nativeIO !== false) {
    const reactor = nativeDatagrams();
    if (reactor !== null) return reactor.create(family, options);
  }
  return new NativeBackend(family, type, proto);
}

/** The reactor's datagram sockets: UDP, and AF_UNIX SOCK_DGRAM (see {@link createNative}). */
function reactorDatagrams(): NativeDatagrams | null {
  if (!hasReactor()) return null;
  const addon = native("the native I/O path");
  return {
    create: (family, options) =>
      new ReactorDatagramBackend(family, Reactor.shared(), addon, options),
  };
}

registerNative({
  handles: needsNative,
  create: createNative,
  get calls(): NativeCalls | null {
    if (calls === null && hasNative()) {
      const addon = native("native calls");
      calls = {
        dup: (fd) => addon.dup(fd),
        reusePortListener,
        recvInto: (...args) => addon.recvInto(...args),
        sendFrom: (...args) => addon.sendFrom(...args),
        sendFile: (...args) => addon.sendFile(...args),
        writeFile: (...args) => addon.writeFile(...args),
      };
      if (hasReactor()) {
        calls.whenReady = (fd, writable, ms) => Reactor.shared().whenReady(fd, writable, ms);
      }
    }
    return calls;
  },
  get missing(): string | null {
    return nativeMissingReason();
  },
  get streams(): NativeStreams | null {
    if (streams === undefined) streams = reactorStreams();
    return streams;
  },
  get datagrams(): NativeDatagrams | null {
    if (datagrams === undefined) datagrams = reactorDatagrams();
    return datagrams;
  },
});
