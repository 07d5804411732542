// Baseline: the plainest node:dgram echo server.
import { createSocket } from "node:dgram";

const s = createSocket("udp4");
s.on("message", (m, r) => s.send(m, r.port, r.address));
s.bind(0, "127.0.0.1", () => process.stderr.write(`listening on 127.0.0.1:${s.address().port}\n`));
