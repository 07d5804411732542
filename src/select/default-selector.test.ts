/**
 * DefaultSelector, test by test after CPython's Lib/test/test_selectors.py
 * (BaseSelectorTestCase, ScalableSelectorMixIn and the per-selector cases), with a TCP
 * pair over 127.0.0.1 where Python uses `socket.socketpair()`.
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import {
  buffered,
  closing,
  listener,
  rejection,
  tcpPair,
  thrown,
  until,
} from "../../test/helpers/net.ts";
import { ArgumentError, SelectorKeyError, SocketError } from "../core/errors.ts";
import { type Socket, socket } from "../socket/socket.ts";
import { DefaultSelector, type SelectorKey } from "./default-selector.ts";
import { EVENT_READ, EVENT_WRITE } from "./events.ts";

/** Python's `make_socketpair()`: two connected stream sockets, closed when the test ends. */
async function socketpair(t: TestContext): Promise<[Socket, Socket]> {
  const { client, conn } = await tcpPair(t);
  return [client, conn];
}

/** A selector closed when the test ends (Python's `addCleanup(s.close)`). */
function selector<T = unknown>(t: TestContext): DefaultSelector<T> {
  return closing(t, new DefaultSelector<T>());
}

/** Python's `find_ready_matching`: the sockets of `ready` with `flag` among their events. */
function readyMatching(ready: [SelectorKey, number][], flag: number): Socket[] {
  return ready.filter(([, events]) => (events & flag) !== 0).map(([key]) => key.fileobj);
}

describe("DefaultSelector (test_selectors)", () => {
  it("test_register (test_selectors.BaseSelectorTestCase): a key with the socket, its descriptor, events and data; bad events, non-sockets and a second registration refused", async (t) => {
    const s = selector<string | undefined>(t);
    const [rd] = await socketpair(t);
    const key = s.register(rd, EVENT_READ, "data");
    assert.equal(key.fileobj, rd);
    assert.equal(typeof key.fd, "number");
    assert.ok(key.fd >= 0, `a connected TCP socket has a descriptor, got ${key.fd}`);
    assert.equal(key.events, EVENT_READ);
    assert.equal(key.data, "data");
    assert.ok(Object.isFrozen(key));

    // register an unknown event (Python: ValueError)
    const other = closing(t, socket());
    thrown(() => s.register(other, 999999), ArgumentError, "ERR_INVALID_ARGUMENT");
    thrown(() => s.register(other, 0), ArgumentError, "ERR_INVALID_ARGUMENT");
    // register something that is not a socket (Python: ValueError for an invalid fd)
    thrown(
      () => s.register(-10 as unknown as Socket, EVENT_READ),
      ArgumentError,
      "ERR_INVALID_ARGUMENT",
    );
    // register twice (Python: KeyError)
    thrown(() => s.register(rd, EVENT_READ), SelectorKeyError, "ERR_ALREADY_REGISTERED");
    assert.equal(s.getKey(rd), key, "the first registration stands");
  });

  it("test_unregister (test_selectors.BaseSelectorTestCase): returns the key; an unknown socket or a second unregister is ERR_NOT_REGISTERED", async (t) => {
    const s = selector(t);
    const [rd] = await socketpair(t);
    const key = s.register(rd, EVENT_READ);
    assert.equal(s.unregister(rd), key);
    thrown(() => s.unregister(closing(t, socket())), SelectorKeyError, "ERR_NOT_REGISTERED");
    thrown(() => s.unregister(rd), SelectorKeyError, "ERR_NOT_REGISTERED");
  });

  it("test_unregister_after_socket_close (test_selectors.BaseSelectorTestCase): closed sockets can still be unregistered", async (t) => {
    const s = selector(t);
    const [rd, wr] = await socketpair(t);
    s.register(rd, EVENT_READ);
    s.register(wr, EVENT_WRITE);
    await rd.close();
    await wr.close();
    s.unregister(rd);
    s.unregister(wr);
    assert.equal(s.getMap().size, 0);
  });

  it("test_register_bad_fd (test_selectors.KqueueSelectorTestCase): registering a closed socket is EBADF and leaves no key", async (t) => {
    const s = selector(t);
    const [rd] = await socketpair(t);
    await rd.close();
    thrown(() => s.register(rd, EVENT_READ), SocketError, "EBADF");
    thrown(() => s.getKey(rd), SelectorKeyError, "ERR_NOT_REGISTERED");
  });

  it("test_modify (test_selectors.BaseSelectorTestCase): new events or data make a new key, the same make none; an unknown socket is ERR_NOT_REGISTERED", async (t) => {
    const s = selector<object | undefined>(t);
    const [rd] = await socketpair(t);

    // modify events
    const key = s.register(rd, EVENT_READ);
    const key2 = s.modify(rd, EVENT_WRITE);
    assert.notEqual(key.events, key2.events);
    assert.equal(key2, s.getKey(rd));
    assert.equal(key2.fd, key.fd);
    s.unregister(rd);

    // modify data
    const d1 = {};
    const d2 = {};
    const key3 = s.register(rd, EVENT_READ, d1);
    const key4 = s.modify(rd, EVENT_READ, d2);
    assert.equal(key3.events, key4.events);
    assert.notEqual(key3.data, key4.data);
    assert.equal(key4, s.getKey(rd));
    assert.equal(key4.data, d2);
    // data left out is Python's None
    assert.equal(s.modify(rd, EVENT_READ).data, undefined);

    // nothing changed: the same key
    const d3 = {};
    const key5 = s.modify(rd, EVENT_READ | EVENT_WRITE, d3);
    assert.equal(s.modify(rd, EVENT_READ | EVENT_WRITE, d3), key5);

    // modify unknown file obj, and bad events
    thrown(
      () => s.modify(closing(t, socket()), EVENT_READ),
      SelectorKeyError,
      "ERR_NOT_REGISTERED",
    );
    thrown(() => s.modify(rd, 4), ArgumentError, "ERR_INVALID_ARGUMENT");
    assert.equal(s.getKey(rd), key5, "a refused modify changes nothing");
  });

  it("test_close (test_selectors.BaseSelectorTestCase): after close, getKey is EBADF and the map is empty", async (t) => {
    const s = selector(t);
    const mapping = s.getMap();
    const [rd, wr] = await socketpair(t);
    s.register(rd, EVENT_READ);
    s.register(wr, EVENT_WRITE);
    s.close();
    thrown(() => s.getKey(rd), SocketError, "EBADF");
    thrown(() => s.getKey(wr), SocketError, "EBADF");
    assert.equal(mapping.get(rd), undefined);
    assert.equal(mapping.get(wr), undefined);
    thrown(() => s.register(rd, EVENT_READ), SocketError, "EBADF");
    await rejection(s.select(0), SocketError, "EBADF");
    assert.equal(rd.closed, false, "closing the selector leaves the sockets open");
    s.close(); // again: nothing
  });

  it("test_get_key (test_selectors.BaseSelectorTestCase): the registered key; an unknown socket is ERR_NOT_REGISTERED", async (t) => {
    const s = selector<string | undefined>(t);
    const [rd] = await socketpair(t);
    const key = s.register(rd, EVENT_READ, "data");
    assert.equal(s.getKey(rd), key);
    thrown(() => s.getKey(closing(t, socket())), SelectorKeyError, "ERR_NOT_REGISTERED");
  });

  it("test_get_map (test_selectors.BaseSelectorTestCase): a live, read-only view of the keys by socket", async (t) => {
    const s = selector<string | undefined>(t);
    const [rd] = await socketpair(t);
    const keys = s.getMap();
    assert.equal(keys.size, 0);
    assert.deepEqual([...keys], []);
    const key = s.register(rd, EVENT_READ, "data");
    assert.ok(keys.has(rd));
    assert.equal(keys.get(rd), key);
    assert.equal(keys.size, 1);
    assert.deepEqual([...keys.keys()], [rd]);
    assert.deepEqual([...keys.values()], [key]);
    assert.deepEqual([...keys.entries()], [[rd, key]]);
    const seen: Socket[] = [];
    keys.forEach((k, sock, map) => {
      assert.equal(k, key);
      assert.equal(map, keys);
      seen.push(sock);
    });
    assert.deepEqual(seen, [rd]);
    // unknown file obj
    assert.equal(keys.get(closing(t, socket())), undefined);
    // read-only mapping
    const writable = keys as unknown as Partial<Map<Socket, SelectorKey<string>>>;
    assert.equal(writable.delete, undefined);
    assert.equal(writable.set, undefined);
    assert.equal(writable.clear, undefined);
  });

  it("test_select (test_selectors.BaseSelectorTestCase): of a quiet reader and a writer, only the writer is ready, for writing", async (t) => {
    const s = selector(t);
    const [rd, wr] = await socketpair(t);
    s.register(rd, EVENT_READ);
    const wrKey = s.register(wr, EVENT_WRITE);
    const result = await s.select();
    for (const [key, events] of result) {
      assert.ok(events !== 0);
      assert.equal(events & ~(EVENT_READ | EVENT_WRITE), 0);
      assert.equal(typeof key.fd, "number");
    }
    assert.deepEqual(result, [[wrKey, EVENT_WRITE]]);
  });

  it("test_select_read_write (test_selectors.BaseSelectorTestCase): a socket registered for both is reported once with both", async (t) => {
    const s = selector(t);
    const [sock1, sock2] = await socketpair(t);
    await sock2.send("foo");
    // Python's socketpair has the bytes at once; here they reach sock1 on a turn of the loop.
    await until(() => buffered(sock1) === 3, "the bytes at sock1");
    const myKey = s.register(sock1, EVENT_READ | EVENT_WRITE);
    const result = await s.select();
    assert.deepEqual(result, [[myKey, EVENT_READ | EVENT_WRITE]]);
  });

  it("test_context_manager (test_selectors.BaseSelectorTestCase): `using` closes the selector at the end of the block", async (t) => {
    const s = selector(t);
    const [rd, wr] = await socketpair(t);
    {
      using sel = s;
      sel.register(rd, EVENT_READ);
      sel.register(wr, EVENT_WRITE);
    }
    thrown(() => s.getKey(rd), SocketError, "EBADF");
    thrown(() => s.getKey(wr), SocketError, "EBADF");
  });

  it("test_selector (test_selectors.BaseSelectorTestCase): 12 pairs; each message is seen by the right reader only, and read whole", async (t) => {
    const s = selector(t);
    const NUM_SOCKETS = 12;
    const MSG = Buffer.from(" This is a test.");
    const writers: Socket[] = [];
    const r2w = new Map<Socket, Socket>();
    const w2r = new Map<Socket, Socket>();
    for (let i = 0; i < NUM_SOCKETS; i++) {
      const [rd, wr] = await socketpair(t);
      s.register(rd, EVENT_READ);
      s.register(wr, EVENT_WRITE);
      writers.push(wr);
      r2w.set(rd, wr);
      w2r.set(wr, rd);
    }
    const bufs: Buffer[] = [];
    while (writers.length > 0) {
      const readyWriters = readyMatching(await s.select(), EVENT_WRITE);
      assert.ok(readyWriters.length > 0, "no sockets ready for writing");
      const wr = readyWriters[Math.floor(Math.random() * readyWriters.length)] as Socket;
      await wr.send(MSG);
      // Python retries with sleep(0.1): here each select() lets the bytes in, so retry at once.
      let readyReaders: Socket[] = [];
      for (let i = 0; i < 1000 && readyReaders.length === 0; i++) {
        readyReaders = readyMatching(await s.select(), EVENT_READ);
      }
      assert.deepEqual(readyReaders, [w2r.get(wr)]);
      const rd = readyReaders[0] as Socket;
      const buf = await rd.recv(MSG.length);
      assert.equal(buf.length, MSG.length);
      bufs.push(buf);
      s.unregister(r2w.get(rd) as Socket);
      s.unregister(rd);
      writers.splice(writers.indexOf(r2w.get(rd) as Socket), 1);
    }
    assert.deepEqual(bufs, Array(NUM_SOCKETS).fill(MSG));
  });

  it("test_empty_select (test_selectors.BaseSelectorTestCase): nothing registered, select(0) is []", async (t) => {
    const s = selector(t);
    assert.deepEqual(await s.select(0), []);
  });

  it("test_empty_select_timeout (test_selectors.KqueueSelectorTestCase): nothing registered, select(timeout) waits the timeout out", async (t) => {
    const s = selector(t);
    const t0 = performance.now();
    assert.deepEqual(await s.select(0.2), []);
    assert.ok(performance.now() - t0 >= 200, `waited ${performance.now() - t0} ms`);
  });

  it("test_timeout (test_selectors.BaseSelectorTestCase): 0 and negative poll, a timeout is waited out and gives []", async (t) => {
    const s = selector(t);
    const [rd, wr] = await socketpair(t);
    s.register(wr, EVENT_WRITE);
    let t0 = performance.now();
    assert.equal((await s.select(0)).length, 1);
    assert.equal((await s.select(-1)).length, 1);
    assert.ok(performance.now() - t0 < 500);

    s.unregister(wr);
    s.register(rd, EVENT_READ);
    t0 = performance.now();
    assert.deepEqual(await s.select(0), []);
    assert.deepEqual(await s.select(-1), []);
    assert.ok(performance.now() - t0 < 500);

    t0 = performance.now();
    assert.deepEqual(await s.select(0.3), []);
    const dt = performance.now() - t0;
    assert.ok(dt >= 300, `select(0.3) returned after ${dt} ms`);
    await rejection(s.select(Number.NaN), ArgumentError, "ERR_INVALID_ARGUMENT");
  });

  it("test_above_fd_setsize (test_selectors.ScalableSelectorMixIn): 200 pairs, the 200 writers are ready and the readers not", async (t) => {
    const s = selector(t);
    const { server, port } = await listener(t);
    for (let i = 0; i < 200; i++) {
      const wr = closing(t, socket());
      await wr.connect(["127.0.0.1", port]);
      const [rd] = await server.accept();
      closing(t, rd);
      s.register(rd, EVENT_READ);
      s.register(wr, EVENT_WRITE);
    }
    const fds = await s.select();
    assert.equal(fds.length, 200);
    assert.ok(fds.every(([, events]) => events === EVENT_WRITE));
  });
});

describe("DefaultSelector on socketkit sockets", () => {
  it("test_select (test_selectors.BaseSelectorTestCase), readable: select() waits for the peer's bytes, and leaves them to recv()", async (t) => {
    const s = selector<string | undefined>(t);
    const [rd, wr] = await socketpair(t);
    const key = s.register(rd, EVENT_READ, "reader");
    const selecting = s.select();
    await wr.sendall("hello");
    assert.deepEqual(await selecting, [[key, EVENT_READ]]);
    assert.equal(buffered(rd), 5, "select consumed nothing");
    assert.equal((await rd.recv(1024)).toString(), "hello");
    assert.deepEqual(await s.select(0), [], "read: no longer ready");
  });

  it("test_select (test_selectors.BaseSelectorTestCase), listening: ready when a client connects, and accept() gets that client", async (t) => {
    const s = selector(t);
    const { server, port } = await listener(t);
    s.register(server, EVENT_READ | EVENT_WRITE);
    assert.deepEqual(await s.select(0), [], "a listening socket is never writable");
    const selecting = s.select();
    const client = closing(t, socket());
    await client.connect(["127.0.0.1", port]);
    const [[key, events]] = (await selecting) as [[SelectorKey, number]];
    assert.equal(key.fileobj, server);
    assert.equal(events, EVENT_READ);
    server.settimeout(0); // accept must not wait: the connection is there
    const [conn, addr] = await server.accept();
    closing(t, conn);
    assert.deepEqual(addr, client.getsockname());
  });

  it("test_select (test_selectors.BaseSelectorTestCase), end of stream: a peer's close makes the reader ready and recv() returns b''", async (t) => {
    const s = selector(t);
    const [rd, wr] = await socketpair(t);
    const key = s.register(rd, EVENT_READ);
    const selecting = s.select();
    await wr.close();
    assert.deepEqual(await selecting, [[key, EVENT_READ]]);
    assert.equal((await rd.recv(1024)).length, 0);
  });

  it("test_unregister_after_socket_close (test_selectors.BaseSelectorTestCase), while waiting: a socket closed meanwhile is dropped, as epoll drops it", async (t) => {
    const s = selector(t);
    const [rd, wr] = await socketpair(t);
    s.register(rd, EVENT_READ);
    const selecting = s.select(0.3);
    await rd.close();
    const t0 = performance.now();
    assert.deepEqual(await selecting, []);
    assert.ok(performance.now() - t0 > 100, "the close did not end the wait");
    // Registered and closed, it is never reported: a writer still is.
    const wrKey = s.register(wr, EVENT_WRITE);
    assert.deepEqual(await s.select(), [[wrKey, EVENT_WRITE]]);
  });

  it("test_modify (test_selectors.BaseSelectorTestCase), while waiting: a registration by another task counts at once", async (t) => {
    const s = selector(t);
    const [rd, wr] = await socketpair(t);
    s.register(rd, EVENT_READ);
    const selecting = s.select();
    const key = s.modify(rd, EVENT_READ | EVENT_WRITE);
    assert.deepEqual(await selecting, [[key, EVENT_WRITE]]);
    s.unregister(rd);
    const waiting = s.select();
    const wrKey = s.register(wr, EVENT_WRITE);
    assert.deepEqual(await waiting, [[wrKey, EVENT_WRITE]]);
  });

  it("test_close (test_selectors.BaseSelectorTestCase), while waiting: closing the selector ends a pending select() with []", async (t) => {
    const s = selector(t);
    const [rd] = await socketpair(t);
    s.register(rd, EVENT_READ);
    const selecting = s.select();
    s.close();
    assert.deepEqual(await selecting, []);
  });
});
