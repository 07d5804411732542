import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { allInterfacesWarning } from "./listen.ts";

describe("allInterfacesWarning", () => {
  it("warns for every way of saying all interfaces, and only for those", () => {
    for (const host of ["", "0.0.0.0", "::"])
      assert.match(allInterfacesWarning(host) ?? "", /all interfaces/);
    for (const host of ["127.0.0.1", "::1", "localhost"])
      assert.equal(allInterfacesWarning(host), null);
    assert.equal(allInterfacesWarning("", "/tmp/s.sock"), null, "a Unix socket is local");
  });
});
