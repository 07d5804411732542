import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { describe, it } from "node:test";
import { ipv6LoopbackWorks, rejection } from "../../test/helpers/net.ts";
import { pythonAnswer } from "../../test/helpers/python.ts";
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
import { interfaceIndex } from "./interface-names.ts";
import { SERVICES_FILE } from "./netdb.ts";

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
    await rejection(getaddrinfo("127.0.0.1", "70000"), GaiError, "EAI_SERVICE");
    await rejection(getaddrinfo("127.0.0.1", -1), GaiError, "EAI_SERVICE");
  });

  it(
    "testGetaddrinfo (GeneralModuleTests): hosts, ports, service names and filters",
    T,
    async (t) => {
      for (const info of await getaddrinfo("127.0.0.1", null)) assert.equal(info.length, 5);
      await getaddrinfo("localhost", 80);
      await getaddrinfo("127.0.0.1", 80);
      await getaddrinfo(null, 80);
      if (await ipv6LoopbackWorks()) await getaddrinfo("::1", 80);
      if (!existsSync(SERVICES_FILE)) {
        t.diagnostic(`${SERVICES_FILE} is missing here: service names not tried`);
      } else {
        const http = await getaddrinfo("127.0.0.1", "http");
        assert.ok(http.length > 0);
        for (const [, , , , sockaddr] of http) assert.equal((sockaddr as [string, number])[1], 80);
      }
      await getaddrinfo("127.0.0.1", 80);
      await getaddrinfo("127.0.0.1", null);
      for (const [family, type] of await getaddrinfo("127.0.0.1", 80, {
        family: AF_INET,
        type: SOCK_STREAM,
      })) {
        assert.equal(family, AF_INET);
        assert.equal(type, SOCK_STREAM);
      }
      for (const [, type] of await getaddrinfo("127.0.0.1", null, { type: SOCK_STREAM })) {
        assert.equal(type, SOCK_STREAM);
      }
    },
  );

  it("reads a numeric string as glibc does, spaces and leading zeros too", T, async () => {
    const ports = async (port: string) =>
      (await getaddrinfo("127.0.0.1", port, { type: SOCK_STREAM })).map(
        ([, , , , sa]) => (sa as [string, number])[1],
      );
    assert.deepEqual(await ports("080"), [80]);
    assert.deepEqual(await ports(" 80"), [80]);
    assert.deepEqual(await ports(""), [0]);
  });

  it("lists only the socket types a service name has, as glibc (no SOCK_RAW)", T, async (t) => {
    if (!existsSync(SERVICES_FILE)) {
      t.skip(`${SERVICES_FILE} is missing here`);
      return;
    }
    const domain = await getaddrinfo("127.0.0.1", "domain");
    assert.deepEqual(
      domain.map(([, type, proto, , sa]) => [type, proto, (sa as [string, number])[1]]),
      [
        [SOCK_STREAM, IPPROTO_TCP, 53],
        [SOCK_DGRAM, IPPROTO_UDP, 53],
      ],
    );
    const err = await rejection(
      getaddrinfo("127.0.0.1", "domain", { type: SOCK_RAW }),
      GaiError,
      "EAI_SERVICE",
    );
    assert.equal(err.errno, -8);
    await rejection(getaddrinfo("127.0.0.1", "no-such-service"), GaiError, "EAI_SERVICE");
  });

  it("resolves service names as Python does", T, async (t) => {
    if (!existsSync(SERVICES_FILE)) {
      t.skip(`${SERVICES_FILE} is missing here`);
      return;
    }
    const cases: Array<[string, number]> = [
      ["http", 0],
      ["http", SOCK_STREAM],
      ["http", SOCK_DGRAM],
      ["domain", 0],
      ["ssh", SOCK_DGRAM],
      ["www", 0],
      ["ntp", 0],
      ["https", 0],
      ["echo", SOCK_RAW],
      ["no-such-service", 0],
      ["0", 0],
      ["443", SOCK_DGRAM],
    ];
    const expected = pythonAnswer<unknown[]>(
      t,
      `import json, socket, sys
def f(service, type):
    try: return [[int(fa), int(ty), pr, cn, list(sa)] for fa, ty, pr, cn, sa in socket.getaddrinfo("127.0.0.1", service, socket.AF_INET, type)]
    except socket.gaierror as e: return e.errno
print(json.dumps([f(*c) for c in json.loads(sys.argv[1])]))`,
      cases,
    );
    if (expected === undefined) return;
    const ours = [];
    for (const [service, type] of cases) {
      try {
        ours.push(await getaddrinfo("127.0.0.1", service, { family: AF_INET, type }));
      } catch (err) {
        ours.push(err instanceof GaiError ? err.errno : String(err));
      }
    }
    assert.deepEqual(ours, expected);
  });

  it(
    "test_getaddrinfo_ipv6_basic (GeneralModuleTests): IPv6 literals come back normalised",
    T,
    async () => {
      const infos = await getaddrinfo("ff02::1de:c0:face:8D", 1234, {
        family: AF_INET6,
        type: SOCK_DGRAM,
      });
      assert.deepEqual(infos, [
        [AF_INET6, SOCK_DGRAM, IPPROTO_UDP, "", ["ff02::1de:c0:face:8d", 1234, 0, 0]],
      ]);
      const zeros = await getaddrinfo("0:0::1", 80, { family: AF_INET6, type: SOCK_STREAM });
      assert.deepEqual(zeros[0]?.[4], ["::1", 80, 0, 0]);
    },
  );

  it(
    "test_getaddrinfo_ipv6_scopeid_symbolic (GeneralModuleTests): a zone gives the scope id",
    T,
    async (t) => {
      const index = await interfaceIndex("lo");
      if (typeof index !== "number") {
        t.skip("interface names are only known on Linux (/sys/class/net)");
        return;
      }
      const infos = await getaddrinfo("ff02::1de:c0:face:8D%lo", 1234, {
        family: AF_INET6,
        type: SOCK_DGRAM,
      });
      // The zone stays on the host, where Node.js reads it to connect.
      assert.deepEqual(infos[0]?.[4], ["ff02::1de:c0:face:8d%lo", 1234, 0, index]);
      const numeric = await getaddrinfo("fe80::1%42", 80, { family: AF_INET6, type: SOCK_STREAM });
      assert.deepEqual(numeric[0]?.[4], ["fe80::1%42", 80, 0, 42]);
      await rejection(
        getaddrinfo("fe80::1%no-such-if", 80, { family: AF_INET6 }),
        GaiError,
        "EAI_NONAME",
      );
    },
  );
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
