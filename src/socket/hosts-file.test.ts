import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { tempDir } from "../../test/helpers/net.ts";
import { hostsByAddress, hostsByName, parseHosts, parseMulti } from "./hosts-file.ts";
import { inet_pton } from "./inet.ts";

const HOSTS = [
  "# The hosts file of a Debian machine, and then some",
  "127.0.0.1\tlocalhost",
  "127.0.1.1\tbox.example.org box",
  "",
  "# The following lines are desirable for IPv6 capable hosts",
  "::1     localhost ip6-localhost ip6-loopback",
  "ff02::1 ip6-allnodes",
  "192.0.2.7   web   www  # a comment after the aliases",
  "192.0.2.8   Web2 www",
  "::ffff:192.0.2.9 mapped",
  "2001:db8::5 six",
  "not-an-address nobody",
  "192.0.2.10",
].join("\n");

/** A hosts file and a host.conf with these contents, for this test. */
async function files(
  t: TestContext,
  hosts: string,
  conf: string,
): Promise<{ hosts: string; conf: string }> {
  const dir = await tempDir(t);
  const paths = { hosts: join(dir, "hosts"), conf: join(dir, "host.conf") };
  await writeFile(paths.hosts, hosts);
  await writeFile(paths.conf, conf);
  return paths;
}

describe("parseHosts", () => {
  it("reads address, name and aliases; skips comments and lines without a name", () => {
    const lines = parseHosts(HOSTS);
    assert.deepEqual(lines[0], { address: "127.0.0.1", name: "localhost", aliases: [] });
    assert.deepEqual(lines[1], { address: "127.0.1.1", name: "box.example.org", aliases: ["box"] });
    assert.deepEqual(lines[4], { address: "192.0.2.7", name: "web", aliases: ["www"] });
    assert.equal(lines.length, 9);
  });
});

describe("parseMulti", () => {
  it("reads glibc's multi setting, off by default", () => {
    assert.equal(parseMulti("multi on\n"), true);
    assert.equal(parseMulti("order hosts,bind\nMULTI On # yes\n"), true);
    assert.equal(parseMulti("multi off\n"), false);
    assert.equal(parseMulti("# multi on\n"), false);
    assert.equal(parseMulti(""), false);
  });
});

describe("hostsByName", () => {
  it("gives the line's canonical name, aliases and address, whatever the case", async (t) => {
    const { hosts, conf } = await files(t, HOSTS, "multi off\n");
    assert.deepEqual(await hostsByName("BOX", hosts, conf), [
      "box.example.org",
      ["box"],
      ["127.0.1.1"],
    ]);
    assert.deepEqual(await hostsByName("mapped", hosts, conf), ["mapped", [], ["192.0.2.9"]]);
    assert.equal(await hostsByName("six", hosts, conf), null);
    assert.equal(await hostsByName("nobody", hosts, conf), null);
  });

  it("with multi on, adds every line's addresses and names, duplicates and all, as glibc", async (t) => {
    const { hosts, conf } = await files(t, HOSTS, "multi on\n");
    // ::1 counts as 127.0.0.1 for an IPv4 lookup, as glibc reads it.
    assert.deepEqual(await hostsByName("localhost", hosts, conf), [
      "localhost",
      ["ip6-localhost", "ip6-loopback"],
      ["127.0.0.1", "127.0.0.1"],
    ]);
    assert.deepEqual(await hostsByName("www", hosts, conf), [
      "web",
      ["www", "www", "Web2"],
      ["192.0.2.7", "192.0.2.8"],
    ]);
  });

  it("with multi off, stops at the first line", async (t) => {
    const { hosts, conf } = await files(t, HOSTS, "");
    assert.deepEqual(await hostsByName("www", hosts, conf), ["web", ["www"], ["192.0.2.7"]]);
  });

  it("takes RESOLV_MULTI over host.conf, as glibc", async (t) => {
    const { hosts, conf } = await files(t, HOSTS, "multi on\n");
    process.env.RESOLV_MULTI = "off";
    t.after(() => {
      delete process.env.RESOLV_MULTI;
    });
    assert.deepEqual(await hostsByName("www", hosts, conf), ["web", ["www"], ["192.0.2.7"]]);
  });

  it("is no answer when there is no hosts file", async (t) => {
    const dir = await tempDir(t);
    assert.equal(await hostsByName("localhost", join(dir, "none"), join(dir, "none")), null);
  });
});

describe("hostsByAddress", () => {
  it("gives the first line with the address, IPv4 or IPv6", async (t) => {
    const { hosts } = await files(t, HOSTS, "");
    assert.deepEqual(await hostsByAddress(inet_pton(2, "127.0.0.1"), hosts), [
      "localhost",
      [],
      ["127.0.0.1"],
    ]);
    assert.deepEqual(await hostsByAddress(inet_pton(10, "::1"), hosts), [
      "localhost",
      ["ip6-localhost", "ip6-loopback"],
      ["::1"],
    ]);
    assert.deepEqual(await hostsByAddress(inet_pton(10, "2001:db8:0::5"), hosts), [
      "six",
      [],
      ["2001:db8::5"],
    ]);
    assert.equal(await hostsByAddress(inet_pton(2, "192.0.2.99"), hosts), null);
  });
});
