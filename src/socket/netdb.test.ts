import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { rejection, tempDir } from "../../test/helpers/net.ts";
import { pythonAnswer } from "../../test/helpers/python.ts";
import { getservbyname, getservbyport, OverflowError, SocketError } from "../index.ts";
import { findServiceName, findServicePort, parseServices, SERVICES_FILE } from "./netdb.ts";

const T = { timeout: 10_000 };

const SAMPLE = [
  "# Network services, Internet style",
  "",
  "tcpmux\t\t1/tcp\t\t\t\t# TCP port service multiplexer",
  "echo\t\t7/tcp",
  "echo\t\t7/udp",
  "discard\t\t9/tcp\t\tsink null",
  "http\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP",
  "kerberos\t88/tcp\t\tkerberos5 krb5 kerberos-sec",
  "kerberos\t88/udp\t\tkerberos5 krb5 kerberos-sec",
  "broken\t\tnot-a-port",
  "lonely",
  "alt-echo\t7/tcp",
  "   indented   8080/tcp   http-alt   ",
  "wrapped\t65537/tcp",
].join("\n");

/** A services file with `text`, for this test. */
async function servicesFile(t: import("node:test").TestContext, text: string): Promise<string> {
  const file = join(await tempDir(t), "services");
  await writeFile(file, text);
  return file;
}

describe("parseServices", () => {
  it("reads name, port/proto and aliases, skipping comments and malformed lines", () => {
    assert.deepEqual(parseServices(SAMPLE), [
      { name: "tcpmux", port: 1, proto: "tcp", aliases: [] },
      { name: "echo", port: 7, proto: "tcp", aliases: [] },
      { name: "echo", port: 7, proto: "udp", aliases: [] },
      { name: "discard", port: 9, proto: "tcp", aliases: ["sink", "null"] },
      { name: "http", port: 80, proto: "tcp", aliases: ["www"] },
      { name: "kerberos", port: 88, proto: "tcp", aliases: ["kerberos5", "krb5", "kerberos-sec"] },
      { name: "kerberos", port: 88, proto: "udp", aliases: ["kerberos5", "krb5", "kerberos-sec"] },
      { name: "alt-echo", port: 7, proto: "tcp", aliases: [] },
      { name: "indented", port: 8080, proto: "tcp", aliases: ["http-alt"] },
      // glibc keeps a port as 16 bits.
      { name: "wrapped", port: 1, proto: "tcp", aliases: [] },
    ]);
  });
});

describe("getservbyname and getservbyport", () => {
  it("find a service by name or alias, for a protocol or any", T, async (t) => {
    const o = { servicesFile: await servicesFile(t, SAMPLE) };
    assert.equal(await getservbyname("http", "tcp", o), 80);
    assert.equal(await getservbyname("www", undefined, o), 80);
    assert.equal(await getservbyname("krb5", "udp", o), 88);
    assert.equal(await getservbyport(88, "udp", o), "kerberos");
    assert.equal(await getservbyport(9, undefined, o), "discard");
  });

  it("give the first line that matches, as glibc", T, async (t) => {
    const o = { servicesFile: await servicesFile(t, SAMPLE) };
    assert.equal(await getservbyport(7, undefined, o), "echo");
    assert.equal(await getservbyport(7, "tcp", o), "echo");
    assert.equal(await getservbyname("echo", undefined, o), 7);
  });

  it("raise ERR_SERVICE_NOT_FOUND (Python's OSError) when nothing matches", T, async (t) => {
    const o = { servicesFile: await servicesFile(t, SAMPLE) };
    const byName = await rejection(
      getservbyname("http", "udp", o),
      SocketError,
      "ERR_SERVICE_NOT_FOUND",
    );
    assert.match(byName.message, /service\/proto not found/);
    const byPort = await rejection(
      getservbyport(80, "udp", o),
      SocketError,
      "ERR_SERVICE_NOT_FOUND",
    );
    assert.match(byPort.message, /port\/proto not found/);
    // Names are case-sensitive, as glibc compares them.
    await rejection(getservbyname("HTTP", "tcp", o), SocketError, "ERR_SERVICE_NOT_FOUND");
  });

  it("say the services database is missing when it is", T, async (t) => {
    const servicesFile = join(await tempDir(t), "no-such-services");
    const byName = await rejection(
      getservbyname("http", "tcp", { servicesFile }),
      SocketError,
      "ERR_SERVICE_NOT_FOUND",
    );
    assert.ok(byName.message.includes(`${servicesFile} does not exist`), byName.message);
    const byPort = await rejection(
      getservbyport(80, "tcp", { servicesFile }),
      SocketError,
      "ERR_SERVICE_NOT_FOUND",
    );
    assert.ok(byPort.message.includes(`${servicesFile} does not exist`), byPort.message);
    const found = await findServicePort("http", "tcp", servicesFile);
    assert.equal(
      typeof found === "number" ? found : found.reason,
      byName.message.slice(byName.message.indexOf("service/proto")),
    );
    assert.equal(await findServiceName(80, "tcp", servicesFile), null);
  });

  it("read the file again once it changes", T, async (t) => {
    const file = await servicesFile(t, "http 80/tcp\n");
    assert.equal(await getservbyname("http", "tcp", { servicesFile: file }), 80);
    await writeFile(file, "http 8080/tcp www\n");
    // The same size and second could hide the change from a careless cache: move the time.
    const later = new Date(Date.now() + 5000);
    await utimes(file, later, later);
    assert.equal(await getservbyname("www", "tcp", { servicesFile: file }), 8080);
  });

  it(
    "testGetServBy (GeneralModuleTests): one service, every related lookup agrees",
    T,
    async (t) => {
      if (!existsSync(SERVICES_FILE)) {
        t.skip(`${SERVICES_FILE} is missing here`);
        return;
      }
      let service = "";
      let port = 0;
      for (const candidate of ["daytime", "qotd", "domain"]) {
        try {
          port = await getservbyname(candidate, "tcp");
          service = candidate;
          break;
        } catch (err) {
          if (!(err instanceof SocketError)) throw err;
        }
      }
      assert.ok(service !== "", "none of daytime, qotd, domain is in the services database");
      const port2 = await getservbyname(service);
      assert.equal(port, port2);
      let udpport: number | null = null;
      try {
        udpport = await getservbyname(service, "udp");
      } catch (err) {
        if (!(err instanceof SocketError)) throw err;
      }
      if (udpport !== null) assert.equal(udpport, port);
      assert.equal(await getservbyport(port2), service);
      assert.equal(await getservbyport(port, "tcp"), service);
      if (udpport !== null) assert.equal(await getservbyport(udpport, "udp"), service);
      await rejection(getservbyport(-1), OverflowError, "ERR_OUT_OF_RANGE");
      await rejection(getservbyport(65536), OverflowError, "ERR_OUT_OF_RANGE");
    },
  );

  it(
    "testGetServBy (GeneralModuleTests): answers as Python does for many services",
    T,
    async (t) => {
      if (!existsSync(SERVICES_FILE)) {
        t.skip(`${SERVICES_FILE} is missing here`);
        return;
      }
      const names: Array<[string, string | null]> = [
        ["http", "tcp"],
        ["http", "udp"],
        ["http", null],
        ["www", null],
        ["ssh", null],
        ["domain", "udp"],
        ["smtp", "tcp"],
        ["mail", null],
        ["kerberos", "udp"],
        ["ntp", "udp"],
        ["https", null],
        ["no-such-service", null],
        ["echo", "ddp"],
      ];
      const ports: Array<[number, string | null]> = [
        [22, null],
        [53, "udp"],
        [80, "tcp"],
        [80, "udp"],
        [443, null],
        [7, null],
        [88, "udp"],
        [6000, "tcp"],
        [1, null],
        [0, null],
        [65535, null],
      ];
      const expected = pythonAnswer<[Array<number | null>, Array<string | null>]>(
        t,
        `import json, socket, sys
names, ports = json.loads(sys.argv[1])
def by_name(n, p):
    try: return socket.getservbyname(n, p) if p else socket.getservbyname(n)
    except OSError: return None
def by_port(n, p):
    try: return socket.getservbyport(n, p) if p else socket.getservbyport(n)
    except OSError: return None
print(json.dumps([[by_name(*a) for a in names], [by_port(*a) for a in ports]]))`,
        [names, ports],
      );
      if (expected === undefined) return;
      const orNull = async <V>(p: Promise<V>) =>
        p.catch((err) => {
          if (err instanceof SocketError && err.code === "ERR_SERVICE_NOT_FOUND") return null;
          throw err;
        });
      const ours = [
        await Promise.all(names.map(([n, p]) => orNull(getservbyname(n, p ?? undefined)))),
        await Promise.all(ports.map(([n, p]) => orNull(getservbyport(n, p ?? undefined)))),
      ];
      assert.deepEqual(ours, expected);
    },
  );

  it("refuses a port or name of the wrong type", T, async () => {
    await rejection(getservbyport(1.5), SocketError, "EINVAL");
    await rejection(getservbyname(80 as unknown as string), SocketError, "EINVAL");
  });
});
