import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { thrown } from "../../../test/helpers/net.ts";
import { ArgumentError } from "../../core/errors.ts";
import {
  type Admission,
  HandshakePool,
  type HandshakePoolOptions,
  type PoolEntry,
} from "./handshake-pool.ts";

/** A pool on a clock the test moves by hand (`clock.ms`). */
function poolOn(options: HandshakePoolOptions = {}) {
  const clock = { ms: 0 };
  const pool = new HandshakePool<string>({ ...options, now: () => clock.ms });
  return { pool, clock };
}

/** The entry of an admission that must have been admitted. */
function admitted<T>(admission: Admission<T>): { entry: PoolEntry<T>; dropped: T | null } {
  assert.ok(admission.admitted, "admitted");
  return { entry: admission.entry, dropped: admission.dropped?.value ?? null };
}

/** The refusal of an admission that must have been refused. */
function refused<T>(admission: Admission<T>) {
  assert.ok(!admission.admitted, "refused");
  return admission;
}

describe("HandshakePool", () => {
  it("admits up to maxHandshakes without dropping any", () => {
    const { pool } = poolOn({ maxHandshakes: 3 });
    for (const name of ["a", "b", "c"]) {
      assert.equal(admitted(pool.admit("10.0.0.1", name)).dropped, null, name);
    }
    assert.equal(pool.size, 3);
    assert.deepEqual([...pool.values()], ["a", "b", "c"]);
  });

  it("drops the oldest handshake when a connection comes to a full pool of one host", () => {
    const { pool } = poolOn({ maxHandshakes: 3 });
    for (const name of ["a", "b", "c"]) pool.admit("10.0.0.1", name);
    const d = pool.admit("10.0.0.1", "d");
    assert.equal(admitted(d).dropped, "a");
    assert.equal(d.admitted && d.dropped?.dropped, true, "the dropped entry says so");
    assert.equal(admitted(pool.admit("10.0.0.1", "e")).dropped, "b");
    assert.deepEqual([...pool.values()], ["c", "d", "e"]);
    assert.equal(pool.size, 3);
  });

  it("drops the oldest handshake of the host with the most, not another host's older one", () => {
    const { pool } = poolOn({ maxHandshakes: 4 });
    pool.admit("192.0.2.7", "sender"); // the oldest of all, alone on its host
    for (const name of ["f1", "f2", "f3"]) pool.admit("198.51.100.9", name);
    // The flood goes on: each new one pushes out the flood's oldest, never the sender.
    const dropped = [];
    for (let i = 4; i < 40; i++)
      dropped.push(admitted(pool.admit("198.51.100.9", `f${i}`)).dropped);
    assert.deepEqual(dropped.slice(0, 3), ["f1", "f2", "f3"]);
    assert.ok(!dropped.includes("sender"), "the sender is never dropped");
    assert.equal(pool.countOf("192.0.2.7"), 1);
    assert.equal(pool.countOf("198.51.100.9"), 3);
    // A third host coming to the full pool also takes the flood's oldest.
    assert.equal(admitted(pool.admit("203.0.113.1", "other")).dropped, "f37");
  });

  it("counts the newcomer with its host, so a host's new connection pushes out its own old ones first", () => {
    const { pool } = poolOn({ maxHandshakes: 4 });
    pool.admit("10.0.0.1", "a1");
    pool.admit("10.0.0.2", "b1");
    pool.admit("10.0.0.1", "a2");
    pool.admit("10.0.0.2", "b2");
    // Two each: 10.0.0.2's newcomer makes it the busiest, though a1 is the oldest.
    assert.equal(admitted(pool.admit("10.0.0.2", "b3")).dropped, "b1");
    // Now 10.0.0.2 has 2 (b2, b3), 10.0.0.1 has 2 (a1, a2): a third host takes the oldest.
    assert.equal(admitted(pool.admit("10.0.0.3", "c1")).dropped, "a1");
  });

  it("counts an IPv6 /64 as one host, and an IPv4-mapped address as its IPv4 address", () => {
    const { pool } = poolOn({ maxHandshakes: 4 });
    pool.admit("2001:db8:1:2::1", "x");
    pool.admit("2001:db8:1:2:ffff:ffff:ffff:ffff", "y");
    pool.admit("2001:0db8:0001:0002:0:0:0:3%eth0", "z");
    pool.admit("2001:db8:1:3::1", "other /64");
    assert.equal(pool.countOf("2001:db8:1:2::9"), 3);
    assert.equal(pool.countOf("2001:db8:1:3::"), 1);
    assert.equal(pool.hosts, 2);
    // The flood of one /64 cannot push out another /64's handshake.
    assert.equal(admitted(pool.admit("2001:db8:1:2::abcd", "w")).dropped, "x");
    const { pool: mapped } = poolOn();
    mapped.admit("::ffff:10.1.2.3", "v4 seen by a dual-stack server");
    assert.equal(mapped.countOf("10.1.2.3"), 1);
  });

  it("takes finished handshakes out: the per-host counts drop to zero and the hosts are forgotten", () => {
    const { pool } = poolOn({ maxHandshakes: 32 });
    const entries = [];
    for (let i = 0; i < 200; i++) {
      const a = pool.admit(`10.0.${i % 5}.1`, `c${i}`);
      if (a.admitted) entries.push(a.entry);
      assert.ok(pool.size <= 32, `size ${pool.size} after ${i + 1}`);
    }
    assert.equal(pool.size, 32);
    assert.equal(pool.hosts, 5);
    for (const entry of entries) pool.finish(entry, "failed");
    for (const entry of entries) pool.finish(entry, "failed"); // twice: no harm
    assert.equal(pool.size, 0);
    assert.equal(pool.hosts, 0);
    for (let i = 0; i < 5; i++) assert.equal(pool.countOf(`10.0.${i}.1`), 0);
    assert.deepEqual([...pool.values()], []);
  });

  it("refuses a host after a failed secret, once logged, for a backoff that doubles and stops at the cap", () => {
    const { pool, clock } = poolOn();
    const host = "192.0.2.66";
    const seconds: number[] = [];
    for (let failures = 1; failures <= 9; failures++) {
      pool.finish(admitted(pool.admit(host, `guess ${failures}`)).entry, "bad-secret");
      const first = refused(pool.admit(host, "at once"));
      assert.equal(first.failures, failures);
      assert.equal(first.first, true, "the first refusal of a backoff is the one to log");
      assert.equal(refused(pool.admit(host, "again")).first, false, "then not again");
      seconds.push(first.seconds);
      clock.ms += first.seconds * 1000 - 1;
      refused(pool.admit(host, "a millisecond early"));
      clock.ms += 1;
    }
    assert.deepEqual(seconds, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    // Other hosts are not refused meanwhile.
    assert.ok(pool.admit("192.0.2.67", "neighbour").admitted);
  });

  it("forgets a host's failed secrets when a handshake passes", () => {
    const { pool, clock } = poolOn();
    for (let i = 0; i < 3; i++) {
      pool.finish(admitted(pool.admit("10.9.9.9", "guess")).entry, "bad-secret");
      clock.ms += 60_000;
    }
    pool.finish(admitted(pool.admit("10.9.9.9", "right")).entry, "passed");
    pool.finish(admitted(pool.admit("10.9.9.9", "typo")).entry, "bad-secret");
    assert.equal(refused(pool.admit("10.9.9.9", "x")).seconds, 1, "back to the first backoff");
  });

  it("keeps counting failures in a row after a backoff ends, and forgets them after a quiet maxBackoffMs", () => {
    const { pool, clock } = poolOn({ firstBackoffMs: 100, maxBackoffMs: 1000 });
    pool.finish(admitted(pool.admit("10.0.0.9", "1")).entry, "bad-secret");
    clock.ms += 100; // the backoff ended: admitted again
    pool.finish(admitted(pool.admit("10.0.0.9", "2")).entry, "bad-secret");
    assert.equal(refused(pool.admit("10.0.0.9", "x")).seconds, 0.2, "doubled");
    clock.ms += 200 + 1000; // the backoff ended a quiet maxBackoffMs ago
    pool.finish(admitted(pool.admit("10.0.0.9", "3")).entry, "bad-secret");
    assert.equal(refused(pool.admit("10.0.0.9", "x")).seconds, 0.1, "started over");
  });

  it("lets a host whose secret failed lately guess over one connection at a time once its backoff ends", () => {
    const { pool, clock } = poolOn();
    pool.finish(admitted(pool.admit("10.0.0.8", "wrong")).entry, "bad-secret");
    clock.ms += 1000; // the backoff ended
    const next = admitted(pool.admit("10.0.0.8", "one"));
    for (let i = 0; i < 5; i++) assert.equal(pool.admit("10.0.0.8", `more${i}`).admitted, false);
    assert.equal(pool.countOf("10.0.0.8"), 1, "a single guess in flight");
    assert.ok(pool.admit("10.0.0.99", "other").admitted, "other hosts are not held");
    pool.finish(next.entry, "passed");
    const after = [0, 1, 2].map((i) => pool.admit("10.0.0.8", `ok${i}`).admitted);
    assert.deepEqual(after, [true, true, true], "a host that passed is trusted again");
  });

  it("counts every failure of handshakes in flight together, and none of the others", () => {
    const { pool } = poolOn();
    const flight = Array.from({ length: 4 }, (_, i) => pool.admit("10.0.0.4", `g${i}`));
    const other = admitted(pool.admit("10.0.0.4", "silent")).entry;
    for (const a of flight) pool.finish(admitted(a).entry, "bad-secret");
    pool.finish(other, "failed");
    assert.equal(refused(pool.admit("10.0.0.4", "x")).failures, 4);
    assert.equal(refused(pool.admit("10.0.0.4", "x")).seconds, 8);
  });

  it("remembers the failures of at most rememberHosts hosts", () => {
    const { pool, clock } = poolOn({ rememberHosts: 3 });
    for (let i = 1; i <= 5; i++) {
      pool.finish(admitted(pool.admit(`10.0.0.${i}`, "guess")).entry, "bad-secret");
      clock.ms += 1;
    }
    // The two least recent were forgotten; the last three are still refused.
    assert.ok(pool.admit("10.0.0.1", "x").admitted);
    assert.ok(pool.admit("10.0.0.2", "x").admitted);
    for (const i of [3, 4, 5]) refused(pool.admit(`10.0.0.${i}`, "x"));
  });

  it("refuses a maxHandshakes that is not a positive integer", () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      thrown(
        () => new HandshakePool({ maxHandshakes: bad }),
        ArgumentError,
        "ERR_INVALID_ARGUMENT",
      );
    }
  });
});
