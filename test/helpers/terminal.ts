/**
 * Terminal programs under test: run one on a pseudo-terminal of a given size
 * (`test/fixtures/pty-run.py`, python3's `pty`), type into it, resize it, and read what a
 * person would see, through {@link Screen}, a small emulator of the escape sequences
 * Node's readline and the progress bar use.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import type { Writable } from "node:stream";
import { lifetimeOf, python3, ROOT } from "./proc.ts";

/** CSI (private mark, parameters, final byte), ESC 7 / 8, OSC to BEL, charset and keypad modes. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: escape sequences are what is parsed
const ESCAPE = /^\x1b(?:\[([?>=]?)([\d;]*)([@-~])|([78])|\][^\x07]*\x07|[()][A-Z0-9]|[=>])/;

/**
 * A screen of `cols` x `rows` cells fed a terminal's output: printable text with automatic
 * wrapping (as xterm: the cursor waits in the last column until the next character), CR,
 * LF, BS, cursor moves (CSI A B C D G H f), erasing (CSI K J), save and restore (ESC 7 8,
 * CSI s u) and auto-wrap off and on (CSI ?7 l/h). Colours and other modes are ignored.
 * Lines scrolled off the top are kept, so {@link text} shows everything printed.
 */
export class Screen {
  cols: number;
  rows: number;
  #lines: string[][];
  /** Per row: the terminal wrapped it onto the next (so a reflow joins them). */
  #wrapped: boolean[] = [];
  #scrolled: string[] = [];
  #row = 0;
  #col = 0;
  #wrapPending = false;
  #autowrap = true;
  #saved: [number, number] = [0, 0];
  #partial = "";

  constructor(cols: number, rows: number) {
    this.cols = cols;
    this.rows = rows;
    this.#lines = Array.from({ length: rows }, () => []);
  }

  /** The lines on the screen now, trailing blanks cut. */
  get lines(): string[] {
    return this.#lines.map((l) =>
      Array.from(l, (c) => c ?? " ")
        .join("")
        .trimEnd(),
    );
  }

  /** Everything: the lines scrolled off the top, then the screen, trailing empty lines cut. */
  text(): string {
    return [...this.#scrolled, ...this.lines].join("\n").trimEnd();
  }

  /** The cursor's row and column (0-based). */
  get cursor(): [number, number] {
    return [this.#row, this.#col];
  }

  /**
   * A new size. With `reflow` (tmux, VTE, iTerm2 and most terminals do it), the lines the
   * terminal wrapped are joined and wrapped again at the new width, the cursor staying on
   * its character; without it (xterm), lines keep their cells, cut at the new width.
   */
  resize(cols: number, rows: number, { reflow = true } = {}): void {
    if (reflow) this.#reflow(cols);
    while (this.#lines.length > rows) {
      // As xterm: the lines above the cursor go into the scrollback first.
      if (this.#row > 0) {
        this.#scrolled.push(this.#lineText(this.#lines.shift() as string[]));
        this.#row--;
      } else this.#lines.pop();
    }
    while (this.#lines.length < rows) this.#lines.push([]);
    for (const line of this.#lines) line.length = Math.min(line.length, cols);
    this.#wrapped.length = this.#lines.length;
    this.cols = cols;
    this.rows = rows;
    this.#col = Math.min(this.#col, cols - 1);
    this.#wrapPending = false;
  }

  feed(data: string): void {
    const s = this.#partial + data;
    this.#partial = "";
    let i = 0;
    while (i < s.length) {
      const ch = s[i] as string;
      if (ch === "\x1b") {
        const m = ESCAPE.exec(s.slice(i));
        if (m === null) {
          // An escape sequence cut between two chunks: finish it with the next one.
          if (s.length - i < 32) {
            this.#partial = s.slice(i);
            return;
          }
          i++;
          continue;
        }
        if (m[3] !== undefined) this.#csi(m[1] as string, m[2] as string, m[3]);
        else if (m[4] === "7") this.#saved = [this.#row, this.#col];
        else if (m[4] === "8") [this.#row, this.#col] = this.#saved;
        i += m[0].length;
        continue;
      }
      const cp = s.codePointAt(i) as number;
      const char = String.fromCodePoint(cp);
      i += char.length;
      if (char === "\r") {
        this.#col = 0;
        this.#wrapPending = false;
      } else if (char === "\n") this.#lineFeed();
      else if (char === "\b") {
        this.#col = Math.max(0, this.#col - 1);
        this.#wrapPending = false;
      } else if (cp >= 0x20) this.#put(char);
    }
  }

  /** Joins the rows the terminal wrapped and wraps them again at `cols`. */
  #reflow(cols: number): void {
    const logical: { cells: string[]; cursor: number | null }[] = [];
    let current: { cells: string[]; cursor: number | null } | null = null;
    for (let r = 0; r < this.#lines.length; r++) {
      const row = this.#lines[r] as string[];
      current ??= { cells: [], cursor: null };
      const start = current.cells.length;
      if (r === this.#row) current.cursor = start + this.#col + (this.#wrapPending ? 1 : 0);
      if (this.#wrapped[r]) {
        for (let c = 0; c < this.cols; c++) current.cells.push(row[c] ?? " ");
      } else {
        current.cells.push(...Array.from(row, (c) => c ?? " "));
        logical.push(current);
        current = null;
      }
    }
    if (current !== null) logical.push(current);
    const lines: string[][] = [];
    const wrapped: boolean[] = [];
    for (const line of logical) {
      const first = lines.length;
      const count = Math.max(1, Math.ceil(line.cells.length / cols));
      for (let i = 0; i < count; i++) {
        lines.push(line.cells.slice(i * cols, (i + 1) * cols));
        wrapped.push(i < count - 1);
      }
      if (line.cursor !== null) {
        const at = Math.min(line.cursor, count * cols);
        this.#row = first + Math.floor(at / cols);
        this.#col = at % cols;
        if (this.#row >= lines.length) {
          lines.push([]);
          wrapped.push(false);
        }
      }
    }
    // Trailing empty rows below the cursor are what was blank: the screen's height is kept.
    while (
      lines.length > this.rows &&
      lines.length - 1 > this.#row &&
      (lines.at(-1) as string[]).length === 0
    ) {
      lines.pop();
      wrapped.pop();
    }
    this.#lines = lines;
    this.#wrapped = wrapped;
  }

  #lineText(line: string[]): string {
    return Array.from(line, (c) => c ?? " ")
      .join("")
      .trimEnd();
  }

  #put(char: string): void {
    if (this.#wrapPending) {
      this.#wrapped[this.#row] = true;
      this.#col = 0;
      this.#lineFeed();
    }
    (this.#lines[this.#row] as string[])[this.#col] = char;
    if (this.#col < this.cols - 1) this.#col++;
    else if (this.#autowrap) this.#wrapPending = true;
  }

  #lineFeed(): void {
    this.#wrapPending = false;
    if (this.#row < this.rows - 1) this.#row++;
    else {
      this.#scrolled.push(this.#lineText(this.#lines.shift() as string[]));
      this.#wrapped.shift();
      this.#lines.push([]);
    }
    this.#wrapped[this.#row] = false;
  }

  #csi(private_: string, params: string, final: string): void {
    const args = params === "" ? [] : params.split(";").map(Number);
    const n = Math.max(1, args[0] ?? 1);
    if (private_ === "?") {
      if (args.includes(7)) this.#autowrap = final === "h";
      return;
    }
    this.#wrapPending = false;
    const line = this.#lines[this.#row] as string[];
    switch (final) {
      case "A":
        this.#row = Math.max(0, this.#row - n);
        break;
      case "B":
        this.#row = Math.min(this.rows - 1, this.#row + n);
        break;
      case "C":
        this.#col = Math.min(this.cols - 1, this.#col + n);
        break;
      case "D":
        this.#col = Math.max(0, this.#col - n);
        break;
      case "G":
        this.#col = Math.min(this.cols - 1, n - 1);
        break;
      case "H":
      case "f":
        this.#row = Math.min(this.rows - 1, n - 1);
        this.#col = Math.min(this.cols - 1, Math.max(1, args[1] ?? 1) - 1);
        break;
      case "K": {
        const how = args[0] ?? 0;
        if (how === 0) line.length = Math.min(line.length, this.#col);
        else if (how === 1) for (let c = 0; c <= this.#col; c++) line[c] = " ";
        else line.length = 0;
        break;
      }
      case "J": {
        const how = args[0] ?? 0;
        if (how === 0) {
          line.length = Math.min(line.length, this.#col);
          for (let r = this.#row + 1; r < this.rows; r++) this.#lines[r] = [];
        } else if (how === 1) {
          for (let r = 0; r < this.#row; r++) this.#lines[r] = [];
          for (let c = 0; c <= this.#col; c++) line[c] = " ";
        } else for (let r = 0; r < this.rows; r++) this.#lines[r] = [];
        for (let r = how === 0 ? this.#row : 0; r < this.rows; r++) this.#wrapped[r] = false;
        break;
      }
      case "s":
        this.#saved = [this.#row, this.#col];
        break;
      case "u":
        [this.#row, this.#col] = this.#saved;
        break;
      default:
      // colours (m) and the rest change nothing that is read here
    }
  }
}

/** A program on a pseudo-terminal, and the screen it draws. */
export interface OnTerminal {
  child: ChildProcess;
  screen: Screen;
  /** Everything it wrote, escape sequences and all. */
  raw: () => string;
  /** Types `text` (`\x03` is Ctrl-C, `\r` Enter). */
  type: (text: string) => void;
  /** Resizes the terminal: the program gets SIGWINCH. */
  resize: (cols: number, rows: number) => void;
  /** Waits (at most 20 s) until `ready` holds for the screen; fails if the program ends first. */
  waitFor: (ready: (screen: Screen) => boolean, what: string) => Promise<void>;
  /** The program's exit status, once it has ended and its output is read. */
  exited: Promise<number | null>;
  /** Ends it (SIGTERM to the pty runner, whose end hangs up the terminal) and waits. */
  stop: () => Promise<void>;
}

/** Null, or why terminal tests cannot run here (the reason their skip prints). */
export function noTerminal(): string | false {
  return python3() === null ? "python3 is not installed: it gives the program a terminal" : false;
}

/** Runs `command args...` in the repository root on a `cols` x `rows` terminal. */
export function onTerminal(
  command: string,
  args: string[],
  size: { cols: number; rows: number },
  env: Record<string, string> = {},
): OnTerminal {
  const child = spawn(
    python3() ?? "python3",
    [`${ROOT}test/fixtures/pty-run.py`, String(size.rows), String(size.cols), command, ...args],
    {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "inherit", "pipe"],
      env: { ...process.env, TERM: "xterm", ...env },
    },
  );
  const screen = new Screen(size.cols, size.rows);
  let raw = "";
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    raw += chunk;
    screen.feed(chunk);
  });
  child.stdin?.on("error", () => {});
  const control = child.stdio[3] as Writable;
  control.on("error", () => {});
  const { exited, stop } = lifetimeOf(child);
  const waitFor = async (ready: (s: Screen) => boolean, what: string) => {
    const deadline = AbortSignal.timeout(20_000);
    while (!ready(screen)) {
      if (child.exitCode !== null) {
        throw new Error(`Exited (${child.exitCode}) before ${what}; screen:\n${screen.text()}`);
      }
      // One signal for both waits, so the one that loses leaves no listener behind.
      const step = new AbortController();
      const signal = AbortSignal.any([deadline, step.signal]);
      const data = once(child.stdout as NodeJS.ReadableStream, "data", { signal });
      const exit = once(child, "exit", { signal });
      data.catch(() => {});
      exit.catch(() => {});
      await Promise.race([data, exit])
        .catch(() => {
          throw new Error(`Waited in vain for ${what}; screen:\n${screen.text()}`);
        })
        .finally(() => step.abort());
    }
  };
  return {
    child,
    screen,
    raw: () => raw,
    type: (text) => child.stdin?.write(text),
    resize: (cols, rows) => {
      screen.resize(cols, rows);
      control.write(`resize ${rows} ${cols}\n`);
    },
    waitFor,
    exited,
    stop,
  };
}

/** `onTerminal` for the `socketkit` command from the source. */
export function socketkitOnTerminal(
  args: string[],
  size: { cols: number; rows: number },
  env?: Record<string, string>,
): OnTerminal {
  return onTerminal(
    process.execPath,
    ["--import", "tsx", `${ROOT}src/cli/main.ts`, ...args],
    size,
    env,
  );
}
