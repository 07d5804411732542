import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { rejection } from "../../test/helpers/net.ts";
import { pythonAnswer } from "../../test/helpers/python.ts";
import {
  GaiError,
  getfqdn,
  gethostbyaddr,
  gethostbyname,
  gethostbyname_ex,
  gethostname,
  SocketError,
} from "../index.ts";

const T = { timeout: 15_000 };

/**
 * A name the resolver rejects without asking DNS (see getaddrinfo.test.ts). CPython's
 * malformed addresses ("0.1.1.~1", "::1::2", ...) are not used: glibc sends them to DNS.
 */
const UNRESOLVABLE = "bad host name!";

/** What each call gives, or the error's class and code, for comparing with Python. */
async function outcome(p: Promise<unknown>): Promise<unknown> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof GaiError) return "gaierror";
    if (err instanceof SocketError) return "error";
    throw err;
  }
}

const PY_OUTCOME = `import json, socket, sys
def outcome(f, *a):
    try: r = f(*a)
    except socket.gaierror: return "gaierror"
    except socket.herror: return "gaierror"
    except OSError: return "error"
    return list(r) if isinstance(r, tuple) else r
`;

describe("gethostbyname", () => {
  it("test_host_resolution (GeneralModuleTests): an IPv4 address is itself", T, async () => {
    for (const addr of ["127.0.0.1", "10.0.0.1", "255.255.255.255"]) {
      assert.equal(await gethostbyname(addr), addr);
    }
  });

  it('reads "" and "<broadcast>" as Python does, and resolves names', T, async () => {
    assert.equal(await gethostbyname(""), "0.0.0.0");
    assert.equal(await gethostbyname("<broadcast>"), "255.255.255.255");
    assert.equal(await gethostbyname("localhost"), "127.0.0.1");
    assert.equal(await gethostbyname("LOCALHOST"), "127.0.0.1");
    assert.equal(await gethostbyname("127.1"), "127.0.0.1");
  });

  it("refuses an IPv6 address (EAI_ADDRFAMILY) and an unknown name (EAI_NONAME)", T, async () => {
    const err = await rejection(gethostbyname("::1"), GaiError, "EAI_ADDRFAMILY");
    assert.equal(err.errno, -9);
    await rejection(gethostbyname("fe80::1%lo"), GaiError, "EAI_ADDRFAMILY");
    await rejection(gethostbyname(UNRESOLVABLE), GaiError, "EAI_NONAME");
  });
});

describe("gethostbyname_ex", () => {
  it("gives [name, aliases, addresses] for a dotted address as glibc does", T, async () => {
    assert.deepEqual(await gethostbyname_ex("127.0.0.1"), ["127.0.0.1", [], ["127.0.0.1"]]);
    assert.deepEqual(await gethostbyname_ex("127.1"), ["127.1", [], ["127.0.0.1"]]);
  });

  it("refuses what Python refuses", T, async () => {
    await rejection(gethostbyname_ex("::1"), GaiError, "EAI_ADDRFAMILY");
    await rejection(gethostbyname_ex(""), GaiError, "EAI_NONAME");
    await rejection(gethostbyname_ex(UNRESOLVABLE), GaiError, "EAI_NONAME");
  });

  it("answers as Python does for localhost and this machine's name", T, async (t) => {
    const names = ["localhost", "LOCALHOST", gethostname(), "127.0.0.1", "127.1", "::1"];
    const expected = pythonAnswer<unknown[]>(
      t,
      `${PY_OUTCOME}print(json.dumps([outcome(socket.gethostbyname_ex, n) for n in json.loads(sys.argv[1])]))`,
      names,
    );
    if (expected === undefined) return;
    const ours = [];
    for (const n of names) ours.push(await outcome(gethostbyname_ex(n)));
    assert.deepEqual(ours, expected);
  });
});

describe("gethostbyaddr", () => {
  it(
    "test_host_resolution (GeneralModuleTests): 127.0.0.1 is among its own addresses",
    T,
    async () => {
      const [, , addresses] = await gethostbyaddr("127.0.0.1");
      assert.ok(addresses.includes("127.0.0.1"));
    },
  );

  it(
    "test_host_resolution_bad_address (GeneralModuleTests): a name that does not resolve",
    T,
    async () => {
      await rejection(gethostbyname(UNRESOLVABLE), GaiError, "EAI_NONAME");
      await rejection(gethostbyaddr(UNRESOLVABLE), GaiError, "EAI_NONAME");
    },
  );

  it('refuses "" as Python does (the wildcard has two addresses)', T, async () => {
    await rejection(gethostbyaddr(""), SocketError, "EINVAL");
  });

  it("answers as Python does for loopback and this machine's name", T, async (t) => {
    const names = ["127.0.0.1", "localhost", "127.1", gethostname()];
    const expected = pythonAnswer<unknown[]>(
      t,
      `${PY_OUTCOME}print(json.dumps([outcome(socket.gethostbyaddr, n) for n in json.loads(sys.argv[1])]))`,
      names,
    );
    if (expected === undefined) return;
    const ours = [];
    for (const n of names) ours.push(await outcome(gethostbyaddr(n)));
    assert.deepEqual(ours, expected);
  });
});

describe("getfqdn", () => {
  it("testHostnameRes (GeneralModuleTests): the names agree with each other", T, async (t) => {
    const hostname = gethostname();
    let ip: string;
    let hname: string;
    let aliases: string[];
    try {
      ip = await gethostbyname(hostname);
      [hname, aliases] = await gethostbyaddr(ip);
    } catch (err) {
      if (!(err instanceof SocketError)) throw err;
      t.skip(`name lookup failure: ${err.message}`);
      return;
    }
    assert.ok(ip.includes("."), "Error resolving host to ip.");
    const fqhn = await getfqdn(ip);
    assert.ok(
      [hostname, hname, ...aliases].includes(fqhn),
      `${fqhn} not in ${[hostname, hname, ...aliases]}`,
    );
  });

  it(
    "test_getfqdn_filter_localhost (GeneralModuleTests): 0.0.0.0 and :: mean this machine",
    T,
    async () => {
      const mine = await getfqdn();
      assert.equal(await getfqdn("0.0.0.0"), mine);
      assert.equal(await getfqdn("::"), mine);
      assert.equal(await getfqdn("  "), mine);
    },
  );

  it("gives back a name it cannot look up, trimmed", T, async () => {
    assert.equal(await getfqdn(` ${UNRESOLVABLE} `), UNRESOLVABLE);
  });

  it("answers as Python does", T, async (t) => {
    const names = ["", "localhost", "127.0.0.1", gethostname(), UNRESOLVABLE];
    const expected = pythonAnswer<string[]>(
      t,
      "import json, socket, sys\nprint(json.dumps([socket.getfqdn(n) for n in json.loads(sys.argv[1])]))",
      names,
    );
    if (expected === undefined) return;
    const ours = [];
    for (const n of names) ours.push(await getfqdn(n));
    assert.deepEqual(ours, expected);
  });
});
