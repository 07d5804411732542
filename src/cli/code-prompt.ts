import type { Completer } from "node:readline";
import { completeCode } from "../apps/wormhole/complete-code.ts";

/**
 * `socketkit receive` with no code: the code asked for, as `wormhole receive` asks, with
 * completion of the nameplate and the words on a terminal.
 * @module
 */

/** The prompt, as `wormhole receive` words it. */
export const CODE_PROMPT = "Enter receive wormhole code: ";

/** Longest line taken as a code (a code of 8 words is under 120 bytes). */
const MAX_LINE = 1024;

/** Seconds a Tab waits for the server's list of nameplates before it offers none. */
const LIST_WAIT = 2;

/** Options of {@link askCode}. */
export interface AskCodeOptions {
  /** @default process.stdin */
  input?: NodeJS.ReadStream;
  /** Where the prompt goes. @default process.stderr */
  output?: NodeJS.WriteStream;
  /** The nameplates in use on the server, to complete the number with. */
  nameplates?: () => Promise<string[]>;
  /** Words a code has (each but the last completes with its hyphen). @default 2 */
  words?: number;
}

/**
 * A readline completer of codes (readline's callback form, since the nameplates come from
 * the server): what completes the last part typed (the number, or the word being typed),
 * so that Tab completes a unique prefix and a second Tab lists the candidates by
 * themselves, not as whole codes.
 */
export function codeCompleter(options: Pick<AskCodeOptions, "nameplates" | "words"> = {}) {
  return (line: string, callback: (err: null, result: [string[], string]) => void): void => {
    const listing =
      line.includes("-") || options.nameplates === undefined
        ? Promise.resolve([])
        : within(options.nameplates(), LIST_WAIT);
    void listing.then((nameplates) => {
      const codes = completeCode(line, { nameplates, words: options.words });
      const base = line.lastIndexOf("-") + 1;
      callback(null, [codes.map((c) => c.slice(base)), line.slice(base)]);
    });
  };
}

/** What `promise` gives within `seconds`, else (or on failure) an empty list. */
function within(promise: Promise<string[]>, seconds: number): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string[]>((resolve) => {
    timer = setTimeout(() => resolve([]), seconds * 1000);
  });
  return Promise.race([promise.catch(() => []), late]).finally(() => clearTimeout(timer));
}

/**
 * Asks for the code: on a terminal with the prompt, line editing and Tab completion
 * ({@link codeCompleter}); otherwise the first line of the input (`echo CODE | socketkit
 * receive`). Resolves with the code, trimmed; fails in one line when none comes.
 */
export async function askCode(options: AskCodeOptions = {}): Promise<string> {
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stderr;
  const line = input.isTTY ? await askOnTerminal(input, output, options) : await readLine(input);
  const code = line.trim();
  if (code === "") throw new Error("No code given: the line was empty");
  return code;
}

async function askOnTerminal(
  input: NodeJS.ReadStream,
  output: NodeJS.WriteStream,
  options: AskCodeOptions,
): Promise<string> {
  // Loaded only here: a command's start-up loads only what it uses.
  const { createInterface } = await import("node:readline");
  const terminal = output.isTTY === true;
  const rl = createInterface({
    input,
    output,
    terminal,
    historySize: 0,
    ...(terminal ? { completer: codeCompleter(options) as Completer } : {}),
  });
  try {
    return await new Promise<string>((resolve, reject) => {
      // Ctrl-C at the prompt (readline takes it in raw mode): the terminal is given back,
      // then the process ends as Ctrl-C ends it anywhere else.
      rl.on("SIGINT", () => {
        rl.close();
        output.write("\n");
        process.kill(process.pid, "SIGINT");
      });
      rl.on("close", () => reject(new Error("No code given: the input ended at the prompt")));
      rl.question(CODE_PROMPT, resolve);
    });
  } finally {
    rl.close();
  }
}

/** The first line of `input` (at most {@link MAX_LINE} bytes), or what it has before its end. */
function readLine(input: NodeJS.ReadStream): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let text = "";
    const finish = (err: Error | null, line = "") => {
      input.off("data", onData);
      input.off("end", onEnd);
      input.off("error", onError);
      input.pause();
      if (err === null) resolve(line);
      else reject(err);
    };
    const onData = (chunk: string) => {
      text += chunk;
      const end = text.indexOf("\n");
      if (end !== -1 && end <= MAX_LINE) finish(null, text.slice(0, end));
      else if (text.length > MAX_LINE)
        finish(new Error(`Cannot take the code: a line of more than ${MAX_LINE} bytes`));
    };
    const onEnd = () =>
      text.trim() === ""
        ? finish(new Error("No code given: the input ended before a line"))
        : finish(null, text);
    const onError = (err: Error) => finish(new Error(`Cannot read the code: ${err.message}`));
    input.setEncoding("utf8");
    input.on("data", onData);
    input.on("end", onEnd);
    input.on("error", onError);
  });
}
