// From seed 002_93193ca43ad4c799 (Russian, "Сокеты в Python"): the client that connects to
// the collecting server, sends "hello, world!" and closes.
// Run: npx tsx examples/hello-world-client.ts [PORT [HOST]]   (defaults 1090 localhost)
import { socket } from "socketkit";
import { args } from "./lib/py.ts";

const [port, host] = args(1090, "localhost");

const s = socket();
await s.connect([host, port]);
await s.send("hello, world!");
await s.close();
