import assert from "node:assert/strict";
import { test } from "node:test";
import { TRANSFER_VERSION } from "../../codec/transfer-codec.ts";
import {
  offeredTransfer,
  SOCKETKIT_APP_VERSIONS,
  sharedTransferVersion,
} from "./native-transfer.ts";

test("two socketkits share the transfer protocol version each lists in its app_versions", () => {
  assert.equal(
    sharedTransferVersion(JSON.parse(JSON.stringify(SOCKETKIT_APP_VERSIONS))),
    TRANSFER_VERSION,
  );
  assert.equal(
    sharedTransferVersion({ socketkit: { transfer: [TRANSFER_VERSION + 1, TRANSFER_VERSION] } }),
    TRANSFER_VERSION,
  );
});

test("a peer that lists no version this side speaks gets wormhole's own offers", () => {
  for (const versions of [
    {},
    { socketkit: null },
    { socketkit: "2" },
    { socketkit: {} },
    { socketkit: { transfer: TRANSFER_VERSION } },
    { socketkit: { transfer: [TRANSFER_VERSION + 1] } },
    { socketkit: { transfer: [String(TRANSFER_VERSION)] } },
  ])
    assert.equal(sharedTransferVersion(versions), null, JSON.stringify(versions));
});

test("a sender's offer of socketkit's protocol is told from wormhole's offers", () => {
  assert.equal(offeredTransfer({ socketkit: { transfer: 2 } }), 2);
  assert.equal(offeredTransfer({ socketkit: {} }), null);
  assert.equal(offeredTransfer({ file: { filename: "a", filesize: 1 } }), undefined);
  assert.equal(offeredTransfer({ message: "hi" }), undefined);
  assert.equal(offeredTransfer({ socketkit: "2" }), undefined);
});
