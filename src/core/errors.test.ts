import assert from "node:assert/strict";
import { constants } from "node:os";
import { describe, it } from "node:test";
import {
  AccessListError,
  AddressInUseError,
  AddressNotAvailableError,
  ArgumentError,
  BlockingIOError,
  BrokenPipeError,
  ConnectionAbortedError,
  ConnectionRefusedError,
  ConnectionResetError,
  describe as describeCode,
  errorFromCode,
  FrameTooLargeError,
  GaiError,
  IncompleteReadError,
  isDisconnect,
  LineTooLongError,
  OverflowError,
  PermissionError,
  SelectorKeyError,
  SocketError,
  TimeoutError,
  toSocketError,
  UnsupportedError,
} from "./errors.ts";

const errno = constants.errno as Record<string, number>;

/** A Node-style system error, as net/dgram emit them. */
function nodeError(code: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`connect ${code} 127.0.0.1:9`);
  err.code = code;
  err.errno = -(errno[code] ?? 0);
  err.syscall = "connect";
  return err;
}

describe("toSocketError", () => {
  const cases: Array<[string, abstract new (...args: never[]) => SocketError]> = [
    ["ECONNREFUSED", ConnectionRefusedError],
    ["ECONNRESET", ConnectionResetError],
    ["ECONNABORTED", ConnectionAbortedError],
    ["EPIPE", BrokenPipeError],
    ["ETIMEDOUT", TimeoutError],
    ["EAGAIN", BlockingIOError],
    ["EADDRINUSE", AddressInUseError],
    ["EADDRNOTAVAIL", AddressNotAvailableError],
    ["EACCES", PermissionError],
  ];
  for (const [code, Class] of cases) {
    it(`maps ${code} to ${Class.name} with the code and the platform errno`, () => {
      const err = toSocketError(nodeError(code), "connect to 127.0.0.1:9");
      assert.ok(err instanceof Class);
      assert.ok(err instanceof SocketError);
      assert.equal(err.code, code);
      assert.equal(err.errno, errno[code]);
      assert.ok(err.errno > 0);
    });
  }

  it("maps ECONNREFUSED to errno 111 on Linux, as Python reports it", {
    skip: process.platform !== "linux" && "errno values are Linux's",
  }, () => {
    assert.equal(toSocketError(nodeError("ECONNREFUSED"), "connect").errno, 111);
  });

  it("maps ENOTFOUND to GaiError EAI_NONAME with errno -2, as Python's gaierror", () => {
    const err = toSocketError(nodeError("ENOTFOUND"), 'resolve "x.invalid"');
    assert.ok(err instanceof GaiError);
    assert.ok(err instanceof SocketError);
    assert.equal(err.code, "EAI_NONAME");
    assert.equal(err.errno, -2);
  });

  it("keeps resolver codes as GaiError with Python's negative errno", () => {
    const err = toSocketError({ code: "EAI_AGAIN" }, "resolve");
    assert.ok(err instanceof GaiError);
    assert.equal(err.code, "EAI_AGAIN");
    assert.equal(err.errno, -3);
  });

  it("maps a write after end to BrokenPipeError with code EPIPE", () => {
    const err = toSocketError({ code: "ERR_STREAM_WRITE_AFTER_END" }, "send to 127.0.0.1:9");
    assert.ok(err instanceof BrokenPipeError);
    assert.equal(err.code, "EPIPE");
  });

  it("makes an unknown code a plain SocketError keeping the code", () => {
    const err = toSocketError(nodeError("ENETUNREACH"), "connect to 10.0.0.1:9");
    assert.equal(err.constructor, SocketError);
    assert.equal(err.code, "ENETUNREACH");
    assert.equal(err.errno, errno.ENETUNREACH);
  });

  it("wraps an error without a code as a SocketError with the cause kept", () => {
    const cause = new Error("boom");
    const err = toSocketError(cause, "do something");
    assert.equal(err.constructor, SocketError);
    assert.equal(err.code, "ERR_SOCKET");
    assert.equal(err.cause, cause);
  });

  it("passes a SocketError through unchanged", () => {
    const original = new ConnectionResetError("Cannot receive: connection reset by peer");
    assert.equal(toSocketError(original, "other action"), original);
  });

  it("keeps the Node error as the cause", () => {
    const cause = nodeError("ECONNRESET");
    assert.equal(toSocketError(cause, "receive from 127.0.0.1:9").cause, cause);
  });

  it("words the message `Cannot <action>: <description>`", () => {
    const err = toSocketError(nodeError("ECONNREFUSED"), "connect to 127.0.0.1:9");
    assert.equal(err.message, "Cannot connect to 127.0.0.1:9: connection refused");
  });
});

describe("errorFromCode", () => {
  it("builds the class for a code with the description of strerror", () => {
    const err = errorFromCode("EADDRINUSE", "bind 127.0.0.1:80");
    assert.ok(err instanceof AddressInUseError);
    assert.equal(err.message, "Cannot bind 127.0.0.1:80: address already in use");
    assert.equal(describeCode("EADDRINUSE"), "address already in use");
    assert.equal(describeCode("ESOMETHINGNEW"), "ESOMETHINGNEW");
  });
});

describe("error classes", () => {
  const instances: SocketError[] = [
    new SocketError("x"),
    new ConnectionRefusedError("x"),
    new ConnectionResetError("x"),
    new ConnectionAbortedError("x"),
    new BrokenPipeError("x"),
    new TimeoutError("x"),
    new BlockingIOError("x"),
    new AddressInUseError("x"),
    new AddressNotAvailableError("x"),
    new PermissionError("x"),
    new GaiError("x"),
    new IncompleteReadError(Buffer.from("ab"), 4),
    new LineTooLongError(10),
    new FrameTooLargeError(70000, 65536),
    new UnsupportedError("x"),
    new AccessListError("x"),
    new ArgumentError("x"),
    new SelectorKeyError("x"),
    new OverflowError("x"),
  ];

  it("are all SocketError and Error, named after their class", () => {
    for (const err of instances) {
      assert.ok(err instanceof SocketError, err.constructor.name);
      assert.ok(err instanceof Error);
      assert.equal(err.name, err.constructor.name);
      assert.equal(typeof err.code, "string");
      assert.equal(typeof err.errno, "number");
    }
  });

  it("carry a stable default code each", () => {
    const codes = instances.map((e) => [e.constructor.name, e.code]);
    assert.deepEqual(Object.fromEntries(codes), {
      SocketError: "ERR_SOCKET",
      ConnectionRefusedError: "ECONNREFUSED",
      ConnectionResetError: "ECONNRESET",
      ConnectionAbortedError: "ECONNABORTED",
      BrokenPipeError: "EPIPE",
      TimeoutError: "ETIMEDOUT",
      BlockingIOError: "EAGAIN",
      AddressInUseError: "EADDRINUSE",
      AddressNotAvailableError: "EADDRNOTAVAIL",
      PermissionError: "EACCES",
      GaiError: "EAI_NONAME",
      IncompleteReadError: "ERR_INCOMPLETE_READ",
      LineTooLongError: "ERR_LINE_TOO_LONG",
      FrameTooLargeError: "ERR_FRAME_TOO_LARGE",
      UnsupportedError: "ERR_UNSUPPORTED",
      AccessListError: "ERR_ACCESS_LIST",
      ArgumentError: "ERR_INVALID_ARGUMENT",
      SelectorKeyError: "ERR_NOT_REGISTERED",
      OverflowError: "ERR_OUT_OF_RANGE",
    });
  });

  it("give OS codes the platform errno and socketkit's own codes errno 0", () => {
    assert.equal(new ConnectionResetError("x").errno, errno.ECONNRESET);
    assert.equal(new BlockingIOError("x").errno, errno.EAGAIN);
    assert.equal(new LineTooLongError(10).errno, 0);
    assert.equal(new UnsupportedError("x").errno, 0);
  });

  it("let the code and errno be overridden", () => {
    const err = new BlockingIOError("x", { code: "EINPROGRESS" });
    assert.equal(err.code, "EINPROGRESS");
    assert.equal(err.errno, errno.EINPROGRESS);
    assert.equal(new GaiError("x", { code: "EAI_AGAIN", errno: -3 }).errno, -3);
  });

  it("IncompleteReadError carries the partial bytes and the count expected", () => {
    const err = new IncompleteReadError(Buffer.from("abc"), 10);
    assert.deepEqual(err.partial, Buffer.from("abc"));
    assert.equal(err.expected, 10);
    assert.match(err.message, /^Cannot read 10 bytes/);
    assert.equal(new IncompleteReadError(Buffer.alloc(0), null).expected, null);
  });

  it("LineTooLongError and FrameTooLargeError carry their limits", () => {
    assert.equal(new LineTooLongError(10).limit, 10);
    const frame = new FrameTooLargeError(70000, 65536);
    assert.equal(frame.size, 70000);
    assert.equal(frame.limit, 65536);
    assert.equal(frame.message, "Cannot decode frame: length 70000 exceeds maxFrameSize 65536");
  });
});

describe("isDisconnect", () => {
  it("is true for reset, broken pipe and abort, false for the rest", () => {
    assert.equal(isDisconnect(new ConnectionResetError("x")), true);
    assert.equal(isDisconnect(new BrokenPipeError("x")), true);
    assert.equal(isDisconnect(new ConnectionAbortedError("x")), true);
    assert.equal(isDisconnect(new ConnectionRefusedError("x")), false);
    assert.equal(isDisconnect(new TimeoutError("x")), false);
    assert.equal(isDisconnect(new Error("x")), false);
  });
});
