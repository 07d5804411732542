import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { closing, ipv6LoopbackWorks } from "../../test/helpers/net.ts";
import { pythonAnswer } from "../../test/helpers/python.ts";
import { AF_INET6, createServer, has_dualstack_ipv6 } from "../index.ts";

describe("has_dualstack_ipv6", () => {
  it("answers as Python's socket.has_dualstack_ipv6() does here", (t) => {
    const expected = pythonAnswer<boolean>(
      t,
      "import json, socket\nprint(json.dumps(socket.has_dualstack_ipv6()))",
    );
    if (expected === undefined) return;
    assert.equal(has_dualstack_ipv6(), expected);
  });

  it("test_dualstack_ipv6_family (CreateServerTest): when true, a dual-stack server can be made", async (t) => {
    if (!has_dualstack_ipv6() || !(await ipv6LoopbackWorks())) {
      t.skip("no dual-stack IPv6 here");
      return;
    }
    const server = closing(
      t,
      await createServer(["::1", 0], { family: AF_INET6, dualstackIpv6: true }),
    );
    assert.equal(server.family, AF_INET6);
  });
});
