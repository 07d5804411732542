// From seed 003_84d78c831d5ce5f6 (English, "Sockets in Python", types of sockets): try to
// create the raw and sequenced-packet sockets the seed shows, and say what happened, as the
// Python program prints it. Node.js cannot make these: socketkit makes them with its native
// addon, and raises UnsupportedError when the addon is not built.
// Run: npx tsx examples/socket-types.ts
import {
  AF_INET,
  AF_UNIX,
  IPPROTO_ICMP,
  SOCK_RAW,
  SOCK_SEQPACKET,
  SocketError,
  socket,
  UnsupportedError,
} from "socketkit";
import { print } from "./lib/py.ts";

const attempts: Array<[string, number, number, number]> = [
  ["AF_INET SOCK_RAW IPPROTO_ICMP", AF_INET, SOCK_RAW, IPPROTO_ICMP],
  ["AF_INET SOCK_SEQPACKET", AF_INET, SOCK_SEQPACKET, 0],
  ["AF_UNIX SOCK_SEQPACKET", AF_UNIX, SOCK_SEQPACKET, 0],
];
for (const [name, family, type, proto] of attempts) {
  try {
    const s = socket(family, type, proto);
    await s.close();
    print(`${name}: ok`);
  } catch (err) {
    if (!(err instanceof SocketError)) throw err;
    if (err instanceof UnsupportedError) print(`${name}: ${err.name} ${err.code}: ${err.message}`);
    // As Python prints it: the exception class (OSError for the generic one) and errno.
    else print(`${name}: ${err.name === "SocketError" ? "OSError" : err.name} ${err.errno}`);
  }
}
