import { createInterface } from "node:readline";
import { type Readable, Writable } from "node:stream";
import { SHUT_WR } from "../core/constants.ts";
import { PromptLine } from "./prompt-line.ts";
import type { ByteTarget } from "./pump.ts";

/** An interactive session's terminal side, from {@link typeLines}. */
export interface TypedLines {
  /** Resolves when the typing ends: `q`, end of input (Ctrl-D), or the target closed. */
  readonly done: Promise<void>;
  /**
   * A sink for what the peer sends that prints it above the prompt line and redraws the
   * prompt and the line being typed below it, as `chat join` does, when `output` is the
   * terminal the prompt is on; otherwise `output` itself (a file or a pipe gets the
   * peer's bytes untouched either way).
   */
  above(output: Writable): Writable;
}

/**
 * The terminal side of an interactive session: a prompt, each line sent as it is typed,
 * `q` alone closing the connection (as the seed clients quit), end of input (Ctrl-D)
 * half-closing it. Ctrl-C is the terminal's: it raises SIGINT in the process, as it would
 * without a prompt (readline would otherwise swallow it).
 */
export function typeLines(
  input: Readable,
  prompts: Writable,
  s: ByteTarget,
  crlf: boolean,
): TypedLines {
  const rl = createInterface({ input, output: prompts, prompt: "> ", terminal: true });
  rl.on("SIGINT", () => process.kill(process.pid, "SIGINT"));
  const prompt = new PromptLine(rl, prompts);
  const done = (async () => {
    try {
      prompt.show();
      for await (const line of rl) {
        if (line === "q") {
          await s.close();
          return;
        }
        await s.sendall(`${line}${crlf ? "\r\n" : "\n"}`);
        prompt.show();
      }
      s.shutdown(SHUT_WR);
    } finally {
      rl.close();
    }
  })();
  const sameTerminal = (output: Writable) =>
    (output as { isTTY?: boolean }).isTTY === true &&
    (prompts as { isTTY?: boolean }).isTTY === true;
  return {
    done,
    above(output) {
      if (!sameTerminal(output)) return output;
      return new Writable({
        write(chunk: Buffer, _encoding, callback) {
          if (prompt.closed) {
            output.write(chunk, callback);
            return;
          }
          // A line the peer has not ended yet gets the prompt on the next line (the newline
          // on the prompts' stream, so the peer's bytes stay as they came).
          prompt.print(chunk, output);
          callback();
        },
      });
    },
  };
}
