/**
 * Chat fan-out: N members in a `socketkit chat serve` room (a child process), one of them
 * sends a message, and the time is taken until the last of the others has it; repeated,
 * with the p50, p99 and max reported. Also the server's memory per idle member: its RSS
 * with N members in the room, less its RSS before they joined, divided by N.
 *
 *   npx tsx bench/chat-fanout.ts [MEMBERS...]     # default: 1000 5000
 */
import { connect, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { percentile, rssOf, SETTINGS, startServer } from "./lib.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ROUNDS = SETTINGS.fanoutRounds;

export interface FanoutResult {
  members: number;
  rounds: number;
  p50: number;
  p99: number;
  max: number;
  /** Server RSS growth per member, bytes. */
  bytesPerMember: number;
}

export async function chatFanout(members: number, rounds = ROUNDS): Promise<FanoutResult> {
  const server = await startServer(process.execPath, [
    "--import",
    "tsx",
    `${ROOT}src/cli/main.ts`,
    "chat",
    "serve",
    "--port",
    "0",
    "--history",
    "0",
    "--rate",
    "100000",
    "--max-clients",
    String(members + 10),
    "--max-per-host",
    String(members + 10), // every member is on 127.0.0.1
  ]);
  const port = server.port;
  const sockets: Socket[] = [];
  try {
    const before = rssOf(server.pid);
    // Every member joins (in parallel batches) and is counted once it has its nickname.
    const bytes = new Array<number>(members).fill(0);
    const named = new Array<boolean>(members).fill(false);
    let onByte: (() => void) | null = null;
    for (let first = 0; first < members; first += 200) {
      const batch = Array.from({ length: Math.min(200, members - first) }, (_, k) => first + k);
      await Promise.all(
        batch.map(
          (i) =>
            new Promise<void>((resolve, reject) => {
              const s = connect({ port, host: "127.0.0.1" }, () => s.write(`m${i}\n`));
              sockets[i] = s;
              let text = "";
              s.on("error", reject);
              s.on("data", (chunk: Buffer) => {
                if (!named[i]) {
                  text += chunk.toString();
                  if (text.includes(`You are m${i}.`)) {
                    named[i] = true;
                    resolve();
                  }
                  return;
                }
                bytes[i] = (bytes[i] as number) + chunk.length;
                onByte?.();
              });
            }),
        ),
      );
    }
    // The room holds no more traffic for idle members (no history, no notices at this
    // size): from here every byte a member gets belongs to the fan-out messages.
    const after = rssOf(server.pid);
    const line = (r: number) => `fan-${String(r).padStart(6, "0")}`;
    // "[HH:MM:SS] <m0> fan-000000\r\n"
    const lineLength = `[00:00:00] <m0> ${line(0)}\r\n`.length;
    const base = bytes.slice();
    const times: number[] = [];
    const sender = sockets[0] as Socket;
    for (let r = 0; r < rounds; r++) {
      const want = (r + 1) * lineLength;
      const start = performance.now();
      await new Promise<void>((resolve) => {
        let pending = members - 1;
        const done = new Array<boolean>(members).fill(false);
        const check = () => {
          for (let i = 1; i < members; i++) {
            if (!done[i] && (bytes[i] as number) - (base[i] as number) >= want) {
              done[i] = true;
              pending--;
            }
          }
          if (pending === 0) {
            onByte = null;
            resolve();
          }
        };
        // Checking every member on every chunk would make the bench its own bottleneck:
        // check once per turn of the event loop instead.
        let scheduled = false;
        onByte = () => {
          if (scheduled) return;
          scheduled = true;
          setImmediate(() => {
            scheduled = false;
            check();
          });
        };
        sender.write(`${line(r)}\n`);
      });
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    return {
      members,
      rounds,
      p50: percentile(times, 50),
      p99: percentile(times, 99),
      max: times[times.length - 1] as number,
      bytesPerMember: (after - before) / members,
    };
  } finally {
    for (const s of sockets) s?.destroy();
    await server.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = process.argv.slice(2).map(Number);
  for (const n of sizes.length > 0 ? sizes : [1000, 5000]) {
    const r = await chatFanout(n);
    console.log(
      `${n} members: p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms over ${r.rounds} messages; server memory per idle member ${(r.bytesPerMember / 1024).toFixed(1)} KiB`,
    );
  }
}
