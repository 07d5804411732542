import assert from "node:assert/strict";
import { hostname } from "node:os";
import { describe, it } from "node:test";
import { rejection } from "../../test/helpers/net.ts";
import {
  AF_INET,
  AF_INET6,
  GaiError,
  getaddrinfo,
  gethostname,
  IPPROTO_TCP,
  IPPROTO_UDP,
  SOCK_DGRAM,
  SOCK_RAW,
  SOCK_STREAM,
} from "../index.ts";
import { resolveHost } from "./getaddrinfo.ts";

const T = { timeout: 10_000 };

/**
 * A name the resolver rejects without asking DNS: the invalid characters fail inside
 * getaddrinfo at once (a name like "no-such-host.invalid" sends a real DNS query, which
 * could hang on a machine whose name server does not answer).
 */
const UNRESOLVABLE = "bad host name!";

describe("getaddrinfo", () => {
  it(
    'gives [family, type, proto, canonname, sockaddr] for "localhost" over AF_INET',
    T,
    async () => {
      const infos = await getaddrinfo("localhost", 80, { family: AF_INET, type: SOCK_STREAM });
      assert.deepEqual(infos, [[AF_INET, SOCK_STREAM, IPPROTO_TCP, "", ["127.0.0.1", 80]]]);
    },
  );

  it(
    "lists every socket type for an address when no type is given, as Python does",
    T,
    async () => {
      const infos = await getaddrinfo("127.0.0.1", 53);
      assert.deepEqual(infos, [
        [AF_INET, SOCK_STREAM, IPPROTO_TCP, "", ["127.0.0.1", 53]],
        [AF_INET, SOCK_DGRAM, IPPROTO_UDP, "", ["127.0.0.1", 53]],
        [AF_INET, SOCK_RAW, 0, "", ["127.0.0.1", 53]],
      ]);
    },
  );

  it("gives IPv6 addresses as 4-tuples", T, async () => {
    const infos = await getaddrinfo("::1", "8080", { family: AF_INET6, type: SOCK_DGRAM });
    assert.deepEqual(infos, [[AF_INET6, SOCK_DGRAM, IPPROTO_UDP, "", ["::1", 8080, 0, 0]]]);
  });

  it("resolves null as the loopback host and a null port as 0", T, async () => {
    const infos = await getaddrinfo(null, null, { family: AF_INET, type: SOCK_STREAM });
    assert.deepEqual(infos, [[AF_INET, SOCK_STREAM, IPPROTO_TCP, "", ["127.0.0.1", 0]]]);
  });

  it("raises GaiError (EAI_NONAME, errno -2) for a name that does not resolve", T, async () => {
    const started = performance.now();
    const err = await rejection(getaddrinfo(UNRESOLVABLE, 80), GaiError, "EAI_NONAME");
    assert.equal(err.errno, -2);
    assert.ok(performance.now() - started < 5000);
  });

  it("raises GaiError (EAI_ADDRFAMILY) for a literal of the other family", T, async () => {
    const err = await rejection(
      getaddrinfo("127.0.0.1", 80, { family: AF_INET6 }),
      GaiError,
      "EAI_ADDRFAMILY",
    );
    assert.equal(err.errno, -9);
  });

  it("raises GaiError (EAI_SERVICE) for a port outside 0-65535", T, async () => {
    const err = await rejection(getaddrinfo("127.0.0.1", 70000), GaiError, "EAI_SERVICE");
    assert.equal(err.errno, -8);
  });
});

describe("resolveHost", () => {
  it('reads "" as every interface and keeps literals', T, async () => {
    assert.equal(await resolveHost(AF_INET, "", "bind"), "0.0.0.0");
    assert.equal(await resolveHost(AF_INET6, "", "bind"), "::");
    assert.equal(await resolveHost(AF_INET, "127.0.0.1", "bind"), "127.0.0.1");
  });

  it('resolves "localhost" to 127.0.0.1 for AF_INET', T, async () => {
    assert.equal(await resolveHost(AF_INET, "localhost", "bind"), "127.0.0.1");
  });

  it("refuses an IPv4 literal on an AF_INET6 socket with GaiError", T, async () => {
    await rejection(
      resolveHost(AF_INET6, "127.0.0.1", "connect to 127.0.0.1:80"),
      GaiError,
      "EAI_ADDRFAMILY",
    );
  });

  it("names the action and the host when resolving fails", T, async () => {
    const err = await rejection(
      resolveHost(AF_INET, UNRESOLVABLE, "connect to x:80"),
      GaiError,
      "EAI_NONAME",
    );
    assert.match(err.message, /^Cannot connect to x:80: cannot resolve "bad host name!"/);
  });
});

describe("gethostname", () => {
  it("is the machine's host name, as os.hostname() gives it", () => {
    assert.equal(gethostname(), hostname());
  });
});
