// Baseline: Bun's own TCP server as Bun's documentation writes an echo, run by `bun`:
// `Bun.listen` with a `data` handler that writes back what arrived.

// The little of Bun's API used here, for the type checker (Bun's own types are not installed).
interface BunSocket {
  write(data: Uint8Array): number;
}
declare const Bun: {
  listen(options: {
    hostname: string;
    port: number;
    socket: { data(socket: BunSocket, data: Uint8Array): void };
  }): { port: number };
};

const server = Bun.listen({
  hostname: "127.0.0.1",
  port: 0,
  socket: {
    data(s, d) {
      s.write(d);
    },
  },
});
console.error(`listening on 127.0.0.1:${server.port}`);
