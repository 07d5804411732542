import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { rejection } from "../../../test/helpers/net.ts";
import { SocketError, TransferError } from "../../core/errors.ts";
import { diskError } from "./files.ts";

// biome-ignore lint/suspicious/noControlCharactersInRegex: the controls are what is matched
const TERMINAL_CONTROL = /[\u0000-\u001f\u007f-\u009f\p{Bidi_Control}]/u;

/** Asserts `promise` rejects with a TransferError of `code` whose message is safe to print. */
async function _refusal(promise: Promise<unknown>, code: string): Promise<TransferError> {
  const err = await rejection(promise, TransferError, code);
  assert.doesNotMatch(err.message, TERMINAL_CONTROL);
  return err;
}

describe("diskError", () => {
  it("gives a full disk its code and words, naming the file", () => {
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, write"), {
      code: "ENOSPC",
    });
    const err = diskError(enospc, "big.bin", 'write "big.bin.part"');
    assert.ok(err instanceof SocketError);
    assert.equal(err.code, "ENOSPC");
    assert.equal(err.message, 'Cannot write "big.bin.part": no space left on device');
  });

  it("refuses the name for a path the system will not take", () => {
    const err = diskError({ code: "ENAMETOOLONG" }, "\u202elong", "open");
    assert.ok(err instanceof TransferError);
    assert.equal(err.code, "ERR_TRANSFER_NAME");
    assert.equal(
      err.message,
      'Refused the file name "\\u202elong": the system refuses it (file name too long)',
    );
  });
});
