import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { after, before, describe, it, type TestContext } from "node:test";
import { ED25519_TORSION_SUBGROUP, ed25519 } from "@noble/curves/ed25519.js";
import { arbitraryElement, passwordToScalar, Spake2Symmetric } from "./spake2.ts";

const AUTH = "ERR_TRANSFER_AUTH";
/** Debian's python3-spake2 lives in the system python, not in a pyenv one. */
const PYTHON = "/usr/bin/python3";

/**
 * A python-spake2 peer driven over stdin/stdout, one JSON request and one JSON answer a
 * line. Its first line says whether `spake2` imports.
 */
const DRIVER = `
import json, sys
try:
    import spake2
    from spake2 import SPAKE2_Symmetric
    from spake2.parameters.ed25519 import ParamsEd25519
    from spake2.ed25519_group import Ed25519Group
except Exception as e:
    print(json.dumps({"ready": False, "why": repr(e)}), flush=True)
    sys.exit(0)
print(json.dumps({"ready": True, "version": spake2.__version__}), flush=True)
sessions = {}
for line in sys.stdin:
    req = json.loads(line)
    op = req["op"]
    try:
        if op == "params":
            out = {
                "M": ParamsEd25519.M.to_bytes().hex(),
                "N": ParamsEd25519.N.to_bytes().hex(),
                "S": ParamsEd25519.S.to_bytes().hex(),
                "pw": str(Ed25519Group.password_to_scalar(bytes.fromhex(req["pw"]))),
            }
        elif op == "start":
            s = SPAKE2_Symmetric(bytes.fromhex(req["pw"]), idSymmetric=bytes.fromhex(req["id"]))
            sessions[req["sid"]] = s
            out = {"msg": s.start().hex()}
        elif op == "finish":
            out = {"key": sessions.pop(req["sid"]).finish(bytes.fromhex(req["msg"])).hex()}
        else:
            out = {"error": "unknown op " + op}
    except Exception as e:
        out = {"error": type(e).__name__ + ": " + str(e)}
    print(json.dumps(out), flush=True)
`;

type Answer = Record<string, string | boolean | undefined>;

interface PythonPeer {
  /** Why the interop tests skip, or null when python-spake2 answers. */
  unavailable: string | null;
  ask(request: Record<string, string>): Promise<Answer>;
  stop(): Promise<void>;
}

async function startPython(): Promise<PythonPeer> {
  const none = (why: string): PythonPeer => ({
    unavailable: why,
    ask: () => Promise.reject(new Error(why)),
    stop: async () => {},
  });
  if (!existsSync(PYTHON)) return none(`${PYTHON} does not exist`);
  const child: ChildProcessWithoutNullStreams = spawn(PYTHON, ["-c", DRIVER]);
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  child.stdin.on("error", () => {});
  const closed = once(child, "close");
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const read = async (): Promise<Answer> => {
    const line = await lines.next();
    if (line.done) throw new Error(`python-spake2 driver ended: ${stderr}`);
    return JSON.parse(line.value) as Answer;
  };
  const stop = async () => {
    child.stdin.end();
    if (child.exitCode === null && child.signalCode === null) await closed;
  };
  const hello = await read().catch((err: Error) => ({ ready: false, why: err.message }));
  if (hello.ready !== true) {
    await stop();
    return none(`${PYTHON} cannot import spake2: ${String(hello.why)}`);
  }
  return {
    unavailable: null,
    ask: async (request) => {
      child.stdin.write(`${JSON.stringify(request)}\n`);
      return read();
    },
    stop,
  };
}

const hex = (b: Uint8Array | string) =>
  typeof b === "string" ? Buffer.from(b, "utf8").toString("hex") : Buffer.from(b).toString("hex");

let nextSession = 0;

/**
 * One session between socketkit (password `ours`, id `ourId`) and python (`theirs`,
 * `theirId`), socketkit's message sent first or second. Returns both keys and whether
 * socketkit's point sorts first in the transcript.
 */
async function session(
  py: PythonPeer,
  first: "socketkit" | "python",
  ours: string,
  theirs: string,
  ourId = "",
  theirId = "",
): Promise<{ mine: Buffer; theirs: Buffer; mineSortsFirst: boolean }> {
  const sid = String(nextSession++);
  const me = new Spake2Symmetric(ours, ourId);
  let myMessage: Buffer;
  let pyMessage: Buffer;
  if (first === "socketkit") {
    myMessage = me.start();
    pyMessage = Buffer.from(
      String((await py.ask({ op: "start", sid, pw: hex(theirs), id: hex(theirId) })).msg),
      "hex",
    );
  } else {
    pyMessage = Buffer.from(
      String((await py.ask({ op: "start", sid, pw: hex(theirs), id: hex(theirId) })).msg),
      "hex",
    );
    myMessage = me.start();
  }
  assert.equal(pyMessage.length, 33);
  assert.equal(pyMessage[0], 0x53);
  const answer = await py.ask({ op: "finish", sid, msg: hex(myMessage) });
  assert.equal(answer.error, undefined, `python-spake2 refused socketkit's message`);
  const mine = me.finish(pyMessage);
  return {
    mine,
    theirs: Buffer.from(String(answer.key), "hex"),
    mineSortsFirst: Buffer.compare(myMessage.subarray(1), pyMessage.subarray(1)) < 0,
  };
}

/** Two socketkit sides; returns their keys. */
function pair(
  a: Spake2Symmetric,
  b: Spake2Symmetric,
): { a: Buffer; b: Buffer; ma: Buffer; mb: Buffer } {
  const ma = a.start();
  const mb = b.start();
  return { a: a.finish(mb), b: b.finish(ma), ma, mb };
}

function withPoint(point: Uint8Array | string, side = 0x53): Buffer {
  const bytes = typeof point === "string" ? Buffer.from(point, "hex") : point;
  return Buffer.concat([Buffer.from([side]), bytes]);
}

function refusesWith(inbound: Uint8Array): void {
  const s = new Spake2Symmetric("password");
  s.start();
  assert.throws(() => s.finish(inbound), { code: AUTH, name: "TransferError" });
}

describe("Spake2Symmetric", () => {
  describe("between two socketkit sides", () => {
    it("gives both sides the same 32-byte key for the same password", () => {
      const { a, b, ma, mb } = pair(
        new Spake2Symmetric("4-purple-sausages"),
        new Spake2Symmetric("4-purple-sausages"),
      );
      assert.equal(a.length, 32);
      assert.deepEqual(a, b);
      assert.equal(ma.length, 33);
      assert.equal(ma[0], 0x53);
      assert.notDeepEqual(ma, mb);
    });

    it("agrees whichever side's point sorts first in the transcript", () => {
      const seen = new Set<boolean>();
      for (let i = 0; i < 64 && seen.size < 2; i++) {
        const { a, b, ma, mb } = pair(new Spake2Symmetric("pw"), new Spake2Symmetric("pw"));
        assert.deepEqual(a, b);
        seen.add(Buffer.compare(ma, mb) < 0);
      }
      assert.equal(seen.size, 2);
    });

    it("gives a fresh key every session (the scalar is random)", () => {
      const one = pair(new Spake2Symmetric("pw"), new Spake2Symmetric("pw"));
      const two = pair(new Spake2Symmetric("pw"), new Spake2Symmetric("pw"));
      assert.notDeepEqual(one.a, two.a);
      assert.notDeepEqual(one.ma, two.ma);
    });

    it("gives different keys for different passwords", () => {
      const { a, b } = pair(new Spake2Symmetric("pw-one"), new Spake2Symmetric("pw-two"));
      assert.equal(a.length, 32);
      assert.equal(b.length, 32);
      assert.notDeepEqual(a, b);
    });

    it("gives different keys for different ids and the same key for the same id", () => {
      const differ = pair(
        new Spake2Symmetric("pw", "app-one"),
        new Spake2Symmetric("pw", "app-two"),
      );
      assert.notDeepEqual(differ.a, differ.b);
      const same = pair(new Spake2Symmetric("pw", "app-one"), new Spake2Symmetric("pw", "app-one"));
      assert.deepEqual(same.a, same.b);
      const empty = pair(new Spake2Symmetric("pw"), new Spake2Symmetric("pw", "x"));
      assert.notDeepEqual(empty.a, empty.b);
    });

    it("takes strings as their UTF-8 bytes", () => {
      const { a, b } = pair(
        new Spake2Symmetric("pässwörd", "idé"),
        new Spake2Symmetric(Buffer.from("pässwörd", "utf8"), new TextEncoder().encode("idé")),
      );
      assert.deepEqual(a, b);
      assert.equal(passwordToScalar("pässwörd"), passwordToScalar(Buffer.from("pässwörd")));
    });

    it("does not see later changes to the password bytes it was given", () => {
      const password = Buffer.from("pw");
      const a = new Spake2Symmetric(password);
      password.fill(0);
      const { a: ka, b: kb } = pair(a, new Spake2Symmetric("pw"));
      assert.deepEqual(ka, kb);
    });
  });

  describe("python-spake2's parameters", () => {
    // Printed by /usr/bin/python3 with python-spake2 0.8 (ParamsEd25519.M/N/S.to_bytes()):
    // pinned so these run where python is missing; the interop tests compare live.
    const M = "15cfd18e385952982b6a8f8c7854963b58e34388c8e6dae891db756481a02312";
    const N = "f04f2e7eb734b2a8f8b472eaf9c3c632576ac64aea650b496a8a20ff00e583c3";
    const S = "6f00dae87c1be1a73b5922ef431cd8f57879569c222d22b1cd71e8546ab8e6f1";

    it("derives M, N and S from the seeds M, N and symmetric", () => {
      // N and S need the loop over y + 1, y + 2: their first y is not on the curve.
      assert.equal(arbitraryElement("M").toString("hex"), M);
      assert.equal(arbitraryElement("N").toString("hex"), N);
      assert.equal(arbitraryElement("symmetric").toString("hex"), S);
    });

    it("puts the elements in the prime-order subgroup, not at the identity", () => {
      for (const e of [M, N, S, arbitraryElement("").toString("hex")]) {
        const point = ed25519.Point.fromHex(e);
        assert.equal(point.is0(), false);
        assert.equal(point.isTorsionFree(), true);
      }
    });

    it("maps a password to python's scalar (HKDF to 48 bytes, big-endian, mod L)", () => {
      assert.equal(
        passwordToScalar("hunter2"),
        2332705937370482279336580119481241731904519969773781888575784812833217371420n,
      );
    });
  });

  describe("refusing the peer's message with ERR_TRANSFER_AUTH", () => {
    const good = new Spake2Symmetric("password").start();

    it("accepts the well-formed message these tests alter", () => {
      const s = new Spake2Symmetric("password");
      s.start();
      assert.equal(s.finish(good).length, 32);
    });

    it("refuses a message of the wrong length", () => {
      refusesWith(Buffer.alloc(0));
      refusesWith(good.subarray(0, 32));
      refusesWith(good.subarray(1));
      refusesWith(Buffer.concat([good, Buffer.from([0])]));
    });

    it("refuses a side byte other than S, the asymmetric sides A and B included", () => {
      for (const side of [0x41, 0x42, 0x00, 0x73, 0xff])
        refusesWith(withPoint(good.subarray(1), side));
    });

    it("refuses bytes that are not a point on the curve", () => {
      // y = 2 has no x on Ed25519 (python-spake2 raises NotOnCurve for it).
      refusesWith(withPoint(`02${"00".repeat(31)}`));
      // A non-canonical y >= p (python accepts p + 1, the identity, written this way).
      refusesWith(withPoint(`ee${"ff".repeat(30)}7f`));
      // The identity with the sign bit set: x = 0 cannot be negative.
      refusesWith(withPoint(`01${"00".repeat(30)}80`));
    });

    it("refuses the identity and every small-order point", () => {
      assert.equal(ED25519_TORSION_SUBGROUP.length, 8);
      for (const point of ED25519_TORSION_SUBGROUP) refusesWith(withPoint(point));
    });

    it("refuses a point with a small-order component (outside the prime-order subgroup)", () => {
      const order8 = ed25519.Point.fromHex(ED25519_TORSION_SUBGROUP[1] as string);
      const good = ed25519.Point.fromBytes(new Spake2Symmetric("x").start().subarray(1));
      const mixed = good.add(order8);
      assert.equal(mixed.isTorsionFree(), false);
      refusesWith(withPoint(mixed.toBytes()));
    });

    it("refuses its own message sent back", () => {
      const s = new Spake2Symmetric("password");
      const mine = s.start();
      assert.throws(() => s.finish(mine), { code: AUTH });
    });

    it("refuses finish() before start(), twice, or after a refused message", () => {
      const early = new Spake2Symmetric("password");
      assert.throws(() => early.finish(good), { code: AUTH });

      const twice = new Spake2Symmetric("password");
      twice.start();
      twice.finish(good);
      assert.throws(() => twice.finish(good), { code: AUTH });

      const used = new Spake2Symmetric("password");
      used.start();
      assert.throws(() => used.finish(good.subarray(0, 10)), { code: AUTH });
      assert.throws(() => used.finish(good), { code: AUTH });
    });

    it("refuses a second start()", () => {
      const s = new Spake2Symmetric("password");
      s.start();
      assert.throws(() => s.start(), { code: AUTH });
    });
  });

  describe("against python-spake2 (the real peer)", () => {
    let py: PythonPeer;
    before(async () => {
      py = await startPython();
    });
    after(async () => {
      await py.stop();
    });

    /** True when the test may go on; otherwise skips it, saying why. */
    function available(t: TestContext): boolean {
      if (py.unavailable === null) return true;
      t.skip(py.unavailable);
      return false;
    }

    it("derives the same M, N, S and password scalar as python-spake2", async (t) => {
      if (!available(t)) return;
      const params = await py.ask({ op: "params", pw: hex("hunter2") });
      assert.equal(arbitraryElement("M").toString("hex"), params.M);
      assert.equal(arbitraryElement("N").toString("hex"), params.N);
      assert.equal(arbitraryElement("symmetric").toString("hex"), params.S);
      assert.equal(String(passwordToScalar("hunter2")), params.pw);
      const other = await py.ask({ op: "params", pw: hex("") });
      assert.equal(String(passwordToScalar("")), other.pw);
    });

    it("agrees on the key with the same password, whichever side sends first", async (t) => {
      if (!available(t)) return;
      for (const first of ["socketkit", "python"] as const) {
        const { mine, theirs } = await session(
          py,
          first,
          "7-guitarist-revenge",
          "7-guitarist-revenge",
        );
        assert.equal(mine.length, 32);
        assert.deepEqual(mine, theirs, `keys differ when ${first} sends first`);
      }
    });

    it("agrees whichever side's point sorts first in the transcript", async (t) => {
      if (!available(t)) return;
      const seen = new Set<boolean>();
      for (let i = 0; i < 64 && seen.size < 2; i++) {
        const r = await session(py, i % 2 === 0 ? "socketkit" : "python", "pw", "pw");
        assert.deepEqual(r.mine, r.theirs);
        seen.add(r.mineSortsFirst);
      }
      assert.equal(seen.size, 2);
    });

    it("agrees with a magic-wormhole style id and a non-ASCII password", async (t) => {
      if (!available(t)) return;
      const id = "lothar.com/wormhole/text-or-file-xfer";
      const r = await session(py, "python", "3-émigré-ünïcode", "3-émigré-ünïcode", id, id);
      assert.deepEqual(r.mine, r.theirs);
    });

    it("derives a different key from python when the passwords differ", async (t) => {
      if (!available(t)) return;
      for (const first of ["socketkit", "python"] as const) {
        const r = await session(py, first, "7-guitarist-revenge", "7-guitarist-revengf");
        assert.equal(r.theirs.length, 32);
        assert.notDeepEqual(r.mine, r.theirs);
      }
    });

    it("derives a different key from python when the ids differ", async (t) => {
      if (!available(t)) return;
      const r = await session(py, "socketkit", "pw", "pw", "app-one", "app-two");
      assert.notDeepEqual(r.mine, r.theirs);
      const empty = await session(py, "python", "pw", "pw", "", "app");
      assert.notDeepEqual(empty.mine, empty.theirs);
    });
  });
});
