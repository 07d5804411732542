import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidArgumentError } from "commander";
import { thrown } from "../../test/helpers/net.ts";
import {
  parseCount,
  parseCountOrZero,
  parseHost,
  parseHostPort,
  parsePort,
  parseRemotePort,
  parseSeconds,
} from "./parsers.ts";

/** The error `fn` throws, checked to be commander's usage error. */
const usageError = (fn: () => unknown) =>
  thrown(fn, InvalidArgumentError, "commander.invalidArgument");

describe("parsePort", () => {
  it("reads 0-65535 written in decimal digits", () => {
    assert.equal(parsePort("0"), 0);
    assert.equal(parsePort("8080"), 8080);
    assert.equal(parsePort("65535"), 65535);
    assert.equal(parsePort("00443"), 443);
  });

  it("refuses empty text, spaces, hexadecimal, exponents and ports out of range", () => {
    for (const text of ["", " ", "\t", "0x50", "0b1", "0o7", "1e3", "+80", "-1", "80.0", "65536"]) {
      usageError(() => parsePort(text));
    }
  });

  it("names the rule and quotes the value, its control characters escaped", () => {
    const err = usageError(() => parsePort("8\u001b[2J\u202e"));
    assert.equal(err.message, 'Port must be 0-65535 in decimal digits, got "8\\u001b[2J\\u202e"');
  });
});

describe("parseSeconds", () => {
  it("reads plain decimals", () => {
    assert.equal(parseSeconds("0"), 0);
    assert.equal(parseSeconds("30"), 30);
    assert.equal(parseSeconds("1.5"), 1.5);
    assert.equal(parseSeconds(".5"), 0.5);
  });

  it("refuses empty text, signs, hexadecimal, exponents and what is not a number", () => {
    for (const text of ["", " ", "-1", "+1", "0x10", "1e3", "1.", ".", "Infinity", "NaN", "1,5"]) {
      usageError(() => parseSeconds(text));
    }
  });
});

describe("parseCount and parseCountOrZero", () => {
  it("read whole numbers from 1, and from 0", () => {
    assert.equal(parseCount("1"), 1);
    assert.equal(parseCountOrZero("0"), 0);
    assert.equal(parseCountOrZero("1000"), 1000);
    usageError(() => parseCount("0"));
  });

  it("refuse what is not plain decimal digits, and numbers past the safe integers", () => {
    for (const text of ["", " ", "1e3", "0x10", "2.5", "-3", "9007199254740993"]) {
      usageError(() => parseCount(text));
      usageError(() => parseCountOrZero(text));
    }
  });
});

describe("parseHost, parseHostPort and parseRemotePort", () => {
  it("take IPv6 addresses with and without brackets", () => {
    assert.equal(parseHost("::1"), "::1");
    assert.equal(parseHost("[::1]"), "::1");
    assert.equal(parseHost("localhost"), "localhost");
    usageError(() => parseHost("[localhost]"));
    assert.deepEqual(parseHostPort("[::1]:9000"), ["::1", 9000]);
    assert.deepEqual(parseHostPort("::1:9000"), ["::1", 9000]);
    assert.deepEqual(parseHostPort("host:9000"), ["host", 9000]);
    for (const text of ["host", "a:b:9000", ":9000", "[::1]9000", "host:0"]) {
      usageError(() => parseHostPort(text));
    }
  });

  it("refuse port 0 to connect to", () => {
    assert.equal(parseRemotePort("1"), 1);
    usageError(() => parseRemotePort("0"));
  });
});
