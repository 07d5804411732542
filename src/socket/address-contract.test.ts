/**
 * The socket layer's address and error contract, run against every backend a `Socket`
 * can have: node:net (TCP, Unix stream), node:dgram (UDP) and the native addon (UDP with
 * SO_REUSEPORT, Unix datagram, SOCK_SEQPACKET). One table of cases, the same expected
 * results: Python's address shapes from getsockname/getpeername/recvfrom, the same error
 * class and code for a bad port, host or address, and messages that write addresses as
 * `formatAddress` does. The native half is skipped, with the reason, when the addon is
 * absent (the suite also runs with SOCKETKIT_NO_NATIVE=1); IPv6 when ::1 is missing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { closing, ipv6LoopbackWorks, rejection, tempDir } from "../../test/helpers/net.ts";
import {
  AddressInUseError,
  AF_INET,
  AF_INET6,
  AF_UNIX,
  formatAddress,
  GaiError,
  SO_REUSEPORT,
  SOCK_DGRAM,
  SOCK_SEQPACKET,
  SOCK_STREAM,
  SOL_SOCKET,
  type Socket,
  type SocketAddress,
  SocketError,
  socket,
} from "../index.ts";
import { hasNative, nativeMissingReason } from "../native/index.ts";
import { hasReactor, reactorMissingReason } from "../native/reactor.ts";

const T = { timeout: 15_000 };
const noAddon = hasNative() ? false : `the native addon is absent (${nativeMissingReason()})`;
const noReactor =
  hasReactor() && !process.env.SOCKETKIT_NO_NATIVE_IO
    ? false
    : `the native I/O path is off (${reactorMissingReason() ?? "SOCKETKIT_NO_NATIVE_IO is set"})`;
const noIpv6 = (await ipv6LoopbackWorks()) ? false : "::1 cannot be bound here (no IPv6 loopback)";

/** One way a Socket is carried, and how to make a peer it can connect to. */
interface Backend {
  name: string;
  /** Why this backend cannot run here, or false. */
  skip: string | false;
  /** Datagram backends also take `sendto` and report senders from `recvfrom`. */
  datagram: boolean;
  make(t: TestContext, family: number): Socket;
}

/** A peer to connect to: a bound datagram socket, or a listening stream socket. */
async function peer(t: TestContext, b: Backend, family: number, where: string): Promise<Socket> {
  const p = closing(t, b.make(t, family));
  await p.bind(family === AF_UNIX ? where : [where, 0]);
  if (!b.datagram) p.listen(5);
  return p;
}

const IP_BACKENDS: Backend[] = [
  {
    name: "node:net (TCP)",
    skip: false,
    datagram: false,
    make: (t, family) => closing(t, socket(family, SOCK_STREAM)),
  },
  {
    name: "node:dgram (UDP)",
    skip: false,
    datagram: true,
    make: (t, family) => closing(t, socket(family, SOCK_DGRAM, 0, { nativeIO: false })),
  },
  {
    name: "native I/O path (UDP)",
    skip: noReactor,
    datagram: true,
    make: (t, family) => closing(t, socket(family, SOCK_DGRAM)),
  },
  {
    name: "native (UDP with SO_REUSEPORT, native I/O path off)",
    skip: noAddon,
    datagram: true,
    make: (t, family) => {
      const s = closing(t, socket(family, SOCK_DGRAM, 0, { nativeIO: false }));
      s.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
      return s;
    },
  },
];

const UNIX_BACKENDS: Backend[] = [
  {
    name: "node:net (AF_UNIX SOCK_STREAM)",
    skip: false,
    datagram: false,
    make: (t) => closing(t, socket(AF_UNIX, SOCK_STREAM)),
  },
  {
    name: "native (AF_UNIX SOCK_DGRAM)",
    skip: noAddon,
    datagram: true,
    make: (t) => closing(t, socket(AF_UNIX, SOCK_DGRAM)),
  },
  {
    name: "native (AF_UNIX SOCK_SEQPACKET)",
    skip: noAddon,
    datagram: false,
    make: (t) => closing(t, socket(AF_UNIX, SOCK_SEQPACKET)),
  },
];

const FAMILIES = [
  { family: AF_INET, name: "AF_INET", loopback: "127.0.0.1", any: ["0.0.0.0", 0], skip: false },
  { family: AF_INET6, name: "AF_INET6", loopback: "::1", any: ["::", 0, 0, 0], skip: noIpv6 },
] as const;

/** Addresses every IP backend refuses with `SocketError` `EINVAL` before any system call. */
const MALFORMED: [what: string, address: unknown][] = [
  ["a port above 65535", ["127.0.0.1", 70000]],
  ["a negative port", ["127.0.0.1", -1]],
  ["a fractional port", ["127.0.0.1", 1.5]],
  ["a port given as a string", ["127.0.0.1", "80"]],
  ["a host that is not a string", [5, 80]],
  ["a string instead of a tuple", "127.0.0.1:80"],
  ["a one-element tuple", ["127.0.0.1"]],
  ["a flowinfo above 1048575", ["127.0.0.1", 80, 0x100000, 0]],
];

/** Each operation that takes an address, on a fresh socket of the backend. */
function operations(
  b: Backend,
): [name: string, run: (s: Socket, a: unknown) => Promise<unknown>][] {
  const ops: [string, (s: Socket, a: unknown) => Promise<unknown>][] = [
    ["bind", (s, a) => s.bind(a as [string, number])],
    ["connect", (s, a) => s.connect(a as [string, number])],
  ];
  if (b.datagram) ops.push(["sendto", (s, a) => s.sendto("x", a as [string, number])]);
  return ops;
}

/** A message must write an address as formatAddress does, never as `host,port`. */
function assertNamesAddress(err: Error, address: SocketAddress): void {
  assert.ok(
    err.message.includes(formatAddress(address)),
    `expected ${JSON.stringify(formatAddress(address))} in ${JSON.stringify(err.message)}`,
  );
  assert.doesNotMatch(err.message, /\d,\d|[\da-f],\[?\d|\0/, `a raw address in: ${err.message}`);
}

for (const b of IP_BACKENDS) {
  describe(`IP addresses on ${b.name}`, { skip: b.skip }, () => {
    for (const f of FAMILIES) {
      it(`getsockname is ${JSON.stringify(f.any)} before bind (${f.name})`, {
        ...T,
        skip: f.skip,
      }, (t) => {
        assert.deepEqual(b.make(t, f.family).getsockname(), f.any);
      });

      it(`getsockname after bind is ${f.family === AF_INET6 ? "[host, port, flowinfo, scopeId]" : "[host, port]"} (${f.name})`, {
        ...T,
        skip: f.skip,
      }, async (t) => {
        const s = b.make(t, f.family);
        await s.bind([f.loopback, 0]);
        const name = s.getsockname() as unknown[];
        assert.equal(name.length, f.family === AF_INET6 ? 4 : 2, JSON.stringify(name));
        assert.equal(name[0], f.loopback);
        assert.ok((name[1] as number) > 0);
        if (f.family === AF_INET6) assert.deepEqual(name.slice(2), [0, 0]);
      });

      it(`getpeername after connect is the peer's address, same shape (${f.name})`, {
        ...T,
        skip: f.skip,
      }, async (t) => {
        const p = await peer(t, b, f.family, f.loopback);
        const s = b.make(t, f.family);
        await s.connect(p.getsockname() as [string, number]);
        assert.deepEqual(s.getpeername(), p.getsockname());
        const mine = s.getsockname() as unknown[];
        assert.equal(mine.length, f.family === AF_INET6 ? 4 : 2, JSON.stringify(mine));
      });

      if (b.datagram) {
        it(`recvfrom gives the sender's address as getsockname does (${f.name})`, {
          ...T,
          skip: f.skip,
        }, async (t) => {
          const p = await peer(t, b, f.family, f.loopback);
          const s = b.make(t, f.family);
          await s.bind([f.loopback, 0]);
          await s.sendto("hi", p.getsockname() as [string, number]);
          p.settimeout(5);
          const [data, from] = await p.recvfrom(16);
          assert.equal(data.toString(), "hi");
          assert.deepEqual(from, s.getsockname());
        });
      }

      it(`binding a port in use raises AddressInUseError naming ${f.loopback}:PORT (${f.name})`, {
        ...T,
        skip: f.skip,
      }, async (t) => {
        // Held by a socket of the same kind without SO_REUSEPORT, so no backend may share it.
        const holder = closing(t, socket(f.family, b.datagram ? SOCK_DGRAM : SOCK_STREAM));
        await holder.bind([f.loopback, 0]);
        const taken = holder.getsockname() as [string, number];
        const err = await rejection(
          b.make(t, f.family).bind(taken),
          AddressInUseError,
          "EADDRINUSE",
        );
        assertNamesAddress(err, [f.loopback, taken[1]]);
      });

      for (const [op, run] of operations(b)) {
        it(`${op} to a name that does not resolve raises GaiError (EAI_NONAME) (${f.name})`, {
          ...T,
          skip: f.skip,
        }, async (t) => {
          const err = await rejection(
            run(b.make(t, f.family), ["bad host name!", 80]),
            GaiError,
            "EAI_NONAME",
          );
          assert.ok(err.errno < 0, `errno ${err.errno}`);
          assertNamesAddress(err, ["bad host name!", 80]);
        });
      }
    }

    for (const [op, run] of operations(b)) {
      for (const [what, address] of MALFORMED) {
        it(`${op} with ${what} raises SocketError EINVAL`, T, async (t) => {
          const s = b.make(t, AF_INET);
          await rejection(run(s, address), SocketError, "EINVAL");
          // Nothing was bound or connected on the way (70000 is not port 4464).
          assert.deepEqual(s.getsockname(), ["0.0.0.0", 0]);
        });
      }

      it(`${op} with an IPv4 literal on an AF_INET6 socket raises GaiError (EAI_ADDRFAMILY)`, {
        ...T,
        skip: noIpv6,
      }, async (t) => {
        await rejection(run(b.make(t, AF_INET6), ["127.0.0.1", 9]), GaiError, "EAI_ADDRFAMILY");
      });
    }
  });
}

for (const b of UNIX_BACKENDS) {
  describe(`Unix addresses on ${b.name}`, { skip: b.skip }, () => {
    const abstract = () =>
      `\0socketkit-contract-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const path = async (t: TestContext) => join(await tempDir(t), "s.sock");

    it('getsockname is "" before bind', T, (t) => {
      assert.equal(b.make(t, AF_UNIX).getsockname(), "");
    });

    it(
      "testMaxName (test_socket.TestLinuxAbstractNamespace): an abstract name of 108 bytes",
      T,
      async (t) => {
        const name = `\0${process.pid}-`.padEnd(108, "h");
        const s = b.make(t, AF_UNIX);
        await s.bind(name);
        assert.equal(s.getsockname(), name);
      },
    );

    it(
      'testAutobind (test_socket.TestLinuxAbstractNamespace): bind("") takes a free abstract name',
      T,
      async (t) => {
        const s1 = b.make(t, AF_UNIX);
        await s1.bind("");
        const s2 = b.make(t, AF_UNIX);
        await s2.bind("");
        assert.match(s1.getsockname() as string, /^\0[0-9a-f]{5}$/);
        assert.match(s2.getsockname() as string, /^\0[0-9a-f]{5}$/);
        assert.notEqual(s1.getsockname(), s2.getsockname());
      },
    );

    for (const [kind, where] of [
      ["a path", path],
      ["an abstract name", abstract],
    ] as const) {
      it(`getsockname after binding ${kind} is it, exactly`, T, async (t) => {
        const name = await where(t);
        const s = b.make(t, AF_UNIX);
        await s.bind(name);
        assert.equal(s.getsockname(), name);
      });

      it(`getpeername after connecting to ${kind} is it, exactly`, T, async (t) => {
        const name = await where(t);
        await peer(t, b, AF_UNIX, name);
        const s = b.make(t, AF_UNIX);
        await s.connect(name);
        assert.equal(s.getpeername(), name);
      });

      it(
        `binding ${kind} in use raises AddressInUseError naming it as formatAddress does`,
        T,
        async (t) => {
          const name = await where(t);
          await peer(t, b, AF_UNIX, name);
          const err = await rejection(
            b.make(t, AF_UNIX).bind(name),
            AddressInUseError,
            "EADDRINUSE",
          );
          assertNamesAddress(err, name);
        },
      );
    }

    it("connect to a path nobody listens on raises ENOENT naming the path", T, async (t) => {
      const name = await path(t);
      const err = await rejection(b.make(t, AF_UNIX).connect(name), SocketError, "ENOENT");
      assertNamesAddress(err, name);
    });

    it("getpeername before connect raises ENOTCONN", T, (t) => {
      assert.throws(
        () => b.make(t, AF_UNIX).getpeername(),
        (err: unknown) => err instanceof SocketError && err.code === "ENOTCONN",
      );
    });

    for (const op of ["bind", "connect"] as const) {
      it(
        `${op} with an [host, port] tuple or a path over 107 bytes raises SocketError EINVAL`,
        T,
        async (t) => {
          await rejection(
            b.make(t, AF_UNIX)[op](["127.0.0.1", 80] as unknown as string),
            SocketError,
            "EINVAL",
          );
          await rejection(b.make(t, AF_UNIX)[op](`/tmp/${"x".repeat(120)}`), SocketError, "EINVAL");
        },
      );
    }
  });
}
