import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { toCrlf } from "./pump.ts";

/** Runs toCrlf over chunks and joins the output. */
function convert(chunks: Buffer[]): string {
  let lastWasCR = false;
  const out: Buffer[] = [];
  for (const c of chunks) {
    const [data, cr] = toCrlf(c, lastWasCR);
    out.push(data);
    lastWasCR = cr;
  }
  return Buffer.concat(out).toString("latin1");
}

describe("toCrlf", () => {
  it("turns lone LFs into CRLF and leaves CRLF alone", () => {
    assert.equal(convert([Buffer.from("a\nb\r\nc\n")]), "a\r\nb\r\nc\r\n");
  });

  it("keeps a CRLF split across two chunks as one line end", () => {
    assert.equal(convert([Buffer.from("a\r"), Buffer.from("\nb\n")]), "a\r\nb\r\n");
  });

  it("gives the same bytes however the input is chunked", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom("a", "\r", "\n", "x"), { maxLength: 40 }),
        fc.array(fc.nat(40)),
        (chars, cuts) => {
          const text = chars.join("");
          const points = [...new Set(cuts.filter((c) => c > 0 && c < text.length))].sort(
            (a, b) => a - b,
          );
          const chunks: Buffer[] = [];
          let start = 0;
          for (const p of [...points, text.length]) {
            chunks.push(Buffer.from(text.slice(start, p), "latin1"));
            start = p;
          }
          assert.equal(convert(chunks), convert([Buffer.from(text, "latin1")]));
          assert.doesNotMatch(convert(chunks), /(^|[^\r])\n/);
        },
      ),
    );
  });
});
