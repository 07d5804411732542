// Baseline: the plainest node:net server that receives a stream and drops it.
import { createServer } from "node:net";

const server = createServer((socket) => {
  socket.on("data", () => {});
  socket.on("error", () => socket.destroy());
});
server.listen(0, "127.0.0.1", () => {
  const a = server.address();
  if (a && typeof a === "object") process.stderr.write(`listening on 127.0.0.1:${a.port}\n`);
});
