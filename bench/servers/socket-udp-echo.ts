// socketkit's Socket API for UDP as a Python program writes it: recvfrom, sendto, again.
import { AF_INET, formatAddress, SOCK_DGRAM, socket } from "../../src/index.ts";

const s = socket(AF_INET, SOCK_DGRAM);
await s.bind(["127.0.0.1", 0]);
process.stderr.write(`listening on ${formatAddress(s.getsockname())}\n`);
for (;;) {
  const [data, from] = await s.recvfrom(65535);
  await s.sendto(data, from);
}
