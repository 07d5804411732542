/**
 * Python's `socket.socketpair`: two sockets connected to each other.
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Address, formatAddress, type SocketAddress } from "../core/address.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  familyName,
  kindName,
  SOCK_DGRAM,
  SOCK_STREAM,
} from "../core/constants.ts";
import { ConnectionAbortedError, errorFromCode, SocketError } from "../core/errors.ts";
import { getdefaulttimeout } from "./default-timeout.ts";
import { Socket } from "./socket.ts";

/** Connections from strangers an IP pair closes while waiting for its own, before giving up. */
const MAX_STRANGERS = 16;

/**
 * Two sockets connected to each other, as Python's `socket.socketpair`: what one sends the
 * other receives. AF_UNIX (the default) as on Linux, where SOCK_STREAM needs nothing more
 * and SOCK_SEQPACKET and SOCK_DGRAM need the native addon; AF_INET and AF_INET6 over the
 * loopback address, SOCK_STREAM only, as Python does where the system has no socketpair.
 * The sockets start with the default timeout (`setdefaulttimeout`), as Python's do.
 *
 * Node.js cannot call socketpair(2), so an AF_UNIX pair is made by a listener in a new
 * private directory (mode 0700, so no other user can connect to it), removed before this
 * returns: nothing is left behind. An IP pair checks that the connection it accepts is its
 * own, so a local process racing to connect first cannot take its place.
 *
 * Throws `SocketError` with code `EOPNOTSUPP` for an IP pair of another type, and
 * `EAFNOSUPPORT` for another family.
 *
 * @example
 * ```ts
 * import { socketpair } from "socketkit";
 * const [a, b] = await socketpair();
 * await a.sendall("ping");
 * console.log((await b.recv(4)).toString()); // "ping"
 * await a.close();
 * await b.close();
 * ```
 */
export async function socketpair(
  family: number = AF_UNIX,
  type: number = SOCK_STREAM,
  proto = 0,
): Promise<[Socket, Socket]> {
  const what = `${familyName(family)} ${kindName(type)}`;
  if (family === AF_INET || family === AF_INET6) {
    if (type !== SOCK_STREAM) {
      throw new SocketError(
        `Cannot create ${what} socket pair: only SOCK_STREAM pairs are made over ${familyName(family)}`,
        { code: "EOPNOTSUPP" },
      );
    }
  } else if (family !== AF_UNIX) {
    throw errorFromCode("EAFNOSUPPORT", `create ${what} socket pair`);
  }
  const a = new Socket(family, type, proto);
  let b: Socket | undefined;
  try {
    b = new Socket(family, type, proto);
    // Setting up never waits on anything but the loopback; the timeouts apply afterwards.
    a.settimeout(null);
    b.settimeout(null);
    const pair: [Socket, Socket] =
      family === AF_UNIX ? await unixPair(a, b, type) : await ipPair(a, b, family);
    const timeout = getdefaulttimeout();
    pair[0].settimeout(timeout);
    pair[1].settimeout(timeout);
    return pair;
  } catch (err) {
    await Promise.all([a.close(), b?.close()]);
    throw err;
  }
}

/** Two sockets that are one AF_UNIX connection (or datagram pair), via a private directory. */
async function unixPair(a: Socket, b: Socket, type: number): Promise<[Socket, Socket]> {
  const dir = await mkdtemp(join(tmpdir(), "socketkit-pair-"));
  try {
    if (type === SOCK_DGRAM) {
      const pathA = join(dir, "a");
      const pathB = join(dir, "b");
      await a.bind(pathA);
      await b.bind(pathB);
      await a.connect(pathB);
      await b.connect(pathA);
      return [a, b];
    }
    const path = join(dir, "s");
    await a.bind(path);
    a.listen(1);
    await b.connect(path);
    const [accepted] = await a.accept();
    await a.close();
    return [accepted, b];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Two sockets that are one TCP connection over the loopback address. */
async function ipPair(listener: Socket, b: Socket, family: number): Promise<[Socket, Socket]> {
  await listener.bind([family === AF_INET6 ? "::1" : "127.0.0.1", 0]);
  listener.listen(1);
  const [host, port] = listener.getsockname() as [string, number];
  await b.connect([host, port]);
  const own = b.getsockname();
  try {
    for (let i = 0; i <= MAX_STRANGERS; i++) {
      const [accepted, peer] = await listener.accept();
      if (sameAddress(peer, own)) return [accepted, b];
      await accepted.close();
    }
  } finally {
    await listener.close();
  }
  throw new ConnectionAbortedError(
    `Cannot create socket pair over ${formatAddress([host, port] as Address)}: ${MAX_STRANGERS} other connections came first`,
  );
}

function sameAddress(x: SocketAddress, y: SocketAddress): boolean {
  return typeof x !== "string" && typeof y !== "string" && x[0] === y[0] && x[1] === y[1];
}
