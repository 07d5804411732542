// socketkit's native reactor with nothing over it: an echo server writing each batch's bytes
// straight back (what the engine under the sockets costs). `--udp`: a UDP echo that sends
// the replies of each batch in one sendmmsg.
import { DatagramBatch } from "../../src/native/datagram-batch.ts";
import { native } from "../../src/native/index.ts";
import { Reactor, type ReactorHandler } from "../../src/native/reactor.ts";

const AF_INET = 2;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;

const addon = native("the reactor echo server");
const reactor = Reactor.shared();
const udp = process.argv.includes("--udp");

/** One connection: what the kernel did not take waits, and reading stops until it goes. */
class StreamEcho implements ReactorHandler {
  id = -1;
  #left: Buffer | null = null;

  onData(data: Buffer): void {
    const n = reactor.write(this.id, data);
    if (n === data.length) return;
    this.#left = data.subarray(Math.max(n, 0));
    reactor.setReading(this.id, false);
    reactor.wantWritable(this.id);
  }

  onWritable(): void {
    const left = this.#left as Buffer;
    let n: number;
    try {
      n = reactor.write(this.id, left);
    } catch {
      reactor.close(this.id);
      return;
    }
    if (n === left.length) {
      this.#left = null;
      reactor.setReading(this.id, true);
    } else {
      this.#left = left.subarray(Math.max(n, 0));
      reactor.wantWritable(this.id);
    }
  }

  onEnd(): void {
    reactor.close(this.id);
  }

  onError(): void {
    reactor.close(this.id);
  }
}

const fd = addon.socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
addon.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
addon.bind(fd, { family: "inet", host: "127.0.0.1", port: 0 });
const { port } = addon.getsockname(fd, false) as { port: number };

if (udp) {
  const replies = new DatagramBatch();
  let id = -1;
  const flush = (): void => {
    while (replies.length > 0) {
      try {
        if (replies.flush(reactor, id) === -1) {
          reactor.wantWritable(id);
          return;
        }
      } catch {
        // that reply is dropped, as a lost datagram
      }
    }
  };
  id = reactor.register(fd, "datagram", {
    onDatagram(data, from) {
      if (replies.length === 0) reactor.afterBatch(flush);
      replies.add(data, from);
    },
    onWritable: flush,
  });
} else {
  addon.listen(fd, 1024);
  reactor.register(
    fd,
    "listener",
    {
      onAccept(conn) {
        const echo = new StreamEcho();
        echo.id = reactor.register(conn, "stream", echo);
      },
    },
    { noDelay: true },
  );
}
process.stderr.write(`listening on 127.0.0.1:${port}\n`);
