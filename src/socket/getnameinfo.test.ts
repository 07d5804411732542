import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { rejection } from "../../test/helpers/net.ts";
import { pythonAnswer } from "../../test/helpers/python.ts";
import {
  GaiError,
  getnameinfo,
  NI_DGRAM,
  NI_NAMEREQD,
  NI_NUMERICHOST,
  NI_NUMERICSERV,
  OverflowError,
  SocketError,
} from "../index.ts";
import { interfaceIndex } from "./interface-names.ts";

const T = { timeout: 15_000 };

type Sockaddr = [string, number] | [string, number, number, number];

describe("getnameinfo", () => {
  it("has Python's (glibc's) flag values", () => {
    assert.deepEqual([NI_NUMERICHOST, NI_NUMERICSERV, NI_NAMEREQD, NI_DGRAM], [1, 2, 8, 16]);
  });

  it("test_getnameinfo (GeneralModuleTests): only IP addresses are allowed", T, async () => {
    const err = await rejection(getnameinfo(["mail.python.org", 0], 0), GaiError, "EAI_NONAME");
    assert.equal(err.errno, -2);
  });

  it(
    "testInterpreterCrash (GeneralModuleTests): a name in a 4-tuple is an error too",
    T,
    async () => {
      await rejection(getnameinfo(["x", 0, 0, 0], 0), GaiError, "EAI_NONAME");
    },
  );

  it(
    "test_flowinfo (GeneralModuleTests): OverflowError for a flowinfo above 1048575",
    T,
    async () => {
      await rejection(getnameinfo(["::1", 0, 0xffffffff, 0], 0), OverflowError, "ERR_OUT_OF_RANGE");
    },
  );

  it("refuses a port outside 0-65535 and an IPv4 address as a 4-tuple", T, async () => {
    await rejection(getnameinfo(["127.0.0.1", 65536]), OverflowError, "ERR_OUT_OF_RANGE");
    await rejection(getnameinfo(["127.0.0.1", -1]), OverflowError, "ERR_OUT_OF_RANGE");
    await rejection(getnameinfo(["127.0.0.1", 80, 0, 0]), SocketError, "EINVAL");
    await rejection(getnameinfo(["127.0.0.1"] as unknown as Sockaddr), SocketError, "EINVAL");
  });

  it("gives names, or numbers with NI_NUMERICHOST and NI_NUMERICSERV", T, async () => {
    assert.deepEqual(await getnameinfo(["127.0.0.1", 80]), ["localhost", "http"]);
    assert.deepEqual(await getnameinfo(["127.0.0.1", 80], NI_NUMERICHOST), ["127.0.0.1", "http"]);
    assert.deepEqual(await getnameinfo(["127.0.0.1", 80], NI_NUMERICHOST | NI_NUMERICSERV), [
      "127.0.0.1",
      "80",
    ]);
    assert.deepEqual(await getnameinfo(["::1", 53, 0, 0], NI_NUMERICHOST | NI_DGRAM), [
      "::1",
      "domain",
    ]);
  });

  it("NI_NAMEREQD fails without a name, and always with NI_NUMERICHOST, as glibc", T, async () => {
    await rejection(
      getnameinfo(["127.0.0.1", 80], NI_NUMERICHOST | NI_NAMEREQD),
      GaiError,
      "EAI_NONAME",
    );
    assert.deepEqual(await getnameinfo(["127.0.0.1", 80], NI_NAMEREQD), ["localhost", "http"]);
  });

  it(
    "test_getnameinfo_ipv6_scopeid_symbolic (GeneralModuleTests): a link scope by name",
    T,
    async (t) => {
      const index = await interfaceIndex("lo");
      if (typeof index !== "number") {
        t.skip("interface names are only known on Linux (/sys/class/net)");
        return;
      }
      const sockaddr: Sockaddr = ["ff02::1de:c0:face:8D", 1234, 0, index];
      assert.deepEqual(await getnameinfo(sockaddr, NI_NUMERICHOST | NI_NUMERICSERV), [
        "ff02::1de:c0:face:8d%lo",
        "1234",
      ]);
      // A global address shows its scope as a number; a zone in the host does not count.
      assert.deepEqual(await getnameinfo(["::1", 80, 0, 7], NI_NUMERICHOST), ["::1%7", "http"]);
      assert.deepEqual(await getnameinfo(["fe80::1%lo", 80], NI_NUMERICHOST), ["fe80::1", "http"]);
      await rejection(
        getnameinfo(["fe80::1%no-such-if", 80], NI_NUMERICHOST),
        GaiError,
        "EAI_NONAME",
      );
    },
  );

  it("answers as Python does", T, async (t) => {
    const cases: Array<[Sockaddr, number]> = [
      [["127.0.0.1", 80], 0],
      [["127.0.0.1", 80], NI_NUMERICHOST],
      [["127.1", 7], NI_DGRAM],
      [["127.0.0.1", 512], 0],
      [["127.0.0.1", 512], NI_DGRAM],
      [["127.0.0.1", 0], 0],
      [["127.0.0.1", 65000], 0],
      [["127.0.0.1", 80], NI_NUMERICHOST | NI_NAMEREQD],
      [["127.0.0.1", 80, 0, 0], 0],
      [["::1", 53, 0, 0], NI_NUMERICHOST | NI_DGRAM],
      [["::1", 80, 0, 1], NI_NUMERICHOST | NI_NUMERICSERV],
      [["fe80::1", 80, 0, 1], NI_NUMERICHOST],
      [["FE80::1", 443, 0, 0], NI_NUMERICHOST],
      [["localhost", 80], NI_NUMERICHOST],
      [["0x7f.1", 22], NI_NUMERICHOST],
    ];
    const expected = pythonAnswer<unknown[]>(
      t,
      `import json, socket, sys
def f(sa, flags):
    try: return list(socket.getnameinfo(tuple(sa), flags))
    except socket.gaierror: return "gaierror"
    except OSError: return "error"
print(json.dumps([f(sa, flags) for sa, flags in json.loads(sys.argv[1])]))`,
      cases,
    );
    if (expected === undefined) return;
    const ours = [];
    for (const [sa, flags] of cases) {
      try {
        ours.push(await getnameinfo(sa, flags));
      } catch (err) {
        ours.push(err instanceof GaiError ? "gaierror" : "error");
      }
    }
    assert.deepEqual(ours, expected);
  });
});
