import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pythonAnswer } from "../../test/helpers/python.ts";
import { interfaceIndex, interfaceName } from "./interface-names.ts";

const linuxOnly = {
  skip: process.platform === "linux" ? false : "interface names come from /sys/class/net (Linux)",
};

describe("interfaceIndex and interfaceName", () => {
  it("read a number as itself", async () => {
    assert.equal(await interfaceIndex("7"), 7);
  });

  it(
    "testInterfaceNameIndex (GeneralModuleTests): agree with Python's if_nameindex",
    linuxOnly,
    async (t) => {
      const expected = pythonAnswer<Array<[number, string]>>(
        t,
        "import json, socket\nprint(json.dumps(socket.if_nameindex()))",
      );
      if (expected === undefined) return;
      for (const [index, name] of expected) {
        assert.equal(await interfaceIndex(name), index);
        assert.equal(await interfaceName(index), name);
      }
    },
  );

  it(
    "testInvalidInterfaceNameToIndex (GeneralModuleTests): null for no such interface",
    linuxOnly,
    async () => {
      assert.equal(await interfaceIndex("_DEADBEEF"), null);
      assert.equal(await interfaceIndex("../lo"), null);
      assert.equal(await interfaceIndex(""), null);
      assert.equal(await interfaceName(0), null);
    },
  );
});
