// Baseline: Bun's own UDP socket as a Bun user writes an echo, run by `bun`:
// `Bun.udpSocket` with a `data` handler that sends the datagram back.

// The little of Bun's API used here, for the type checker (Bun's own types are not installed).
interface BunUdpSocket {
  port: number;
  send(data: Uint8Array, port: number, address: string): boolean;
}
declare const Bun: {
  udpSocket(options: {
    hostname: string;
    port: number;
    socket: {
      data(socket: BunUdpSocket, data: Uint8Array, port: number, address: string): void;
      error(socket: BunUdpSocket, error: Error): void;
    };
  }): Promise<BunUdpSocket>;
};

const server = await Bun.udpSocket({
  hostname: "127.0.0.1",
  port: 0,
  socket: {
    data(s, d, port, address) {
      s.send(d, port, address);
    },
    // Bun reports the ICMP error of an echo that found its client gone (ECONNREFUSED);
    // without a handler it ends the process. UDP drops such a datagram, so does this.
    error() {},
  },
});
console.error(`listening on 127.0.0.1:${server.port}`);
