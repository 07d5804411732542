import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { SHUT_WR } from "../core/constants.ts";
import type { ByteTarget } from "./pump.ts";

/**
 * The terminal side of an interactive session: a prompt, each line sent as it is typed,
 * `q` alone closing the connection (as the seed clients quit), end of input (Ctrl-D)
 * half-closing it.
 */
export async function typeLines(
  input: Readable,
  prompts: Writable,
  s: ByteTarget,
  crlf: boolean,
): Promise<void> {
  const rl = createInterface({ input, output: prompts, prompt: "> ", terminal: true });
  try {
    rl.prompt();
    for await (const line of rl) {
      if (line === "q") {
        await s.close();
        return;
      }
      await s.sendall(`${line}${crlf ? "\r\n" : "\n"}`);
      rl.prompt();
    }
    s.shutdown(SHUT_WR);
  } finally {
    rl.close();
  }
}
