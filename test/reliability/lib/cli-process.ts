/**
 * The `socketkit` command as a child process for long runs: started from the source, its
 * stderr kept only as a bounded tail (a server that logs a line per client for hours
 * costs the caller nothing), stack traces in it counted, and stopped by its pid.
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { ROOT } from "../../helpers/proc.ts";

/** How a process ended: its exit code, or the signal that ended it. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Characters of stderr kept (the most recent ones). */
const TAIL_LENGTH = 65536;

/**
 * SIGTERM to exit, for a server the soak stops: the servers' grace period for running
 * sessions and transfers (5 s), and 1 s more.
 */
export const STOP_GRACE_MS = 6000;

/** After a process exits, how long its stderr may take to close, at most. */
const CLOSE_WAIT_MS = 5000;

/** Lines of a Node.js stack trace: `    at fn (file:line:col)`. */
const STACK_LINE = /^\s+at \S/;

/** Every process started and not yet gone, for the exit hook. */
const live = new Set<ChildProcess>();
let hooked = false;

/** Kills (by pid) whatever is still running when this process exits, however it exits. */
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    for (const child of live) child.kill("SIGKILL");
  });
}

/**
 * One `socketkit ARGS...` process (`node --import tsx src/cli/main.ts`), so that its pid
 * is the program's own and /proc/PID describes it.
 *
 * @example
 * ```ts
 * const server = CliProcess.start(["serve", "echo", "--port", "0"]);
 * const port = await server.listening();
 * // ...
 * const exit = await server.stop(6000); // SIGTERM, then SIGKILL after 6 s
 * ```
 */
export class CliProcess {
  readonly child: ChildProcess;
  readonly args: readonly string[];
  readonly pid: number;
  /** Resolves when the process has ended. */
  readonly exited: Promise<Exit>;
  /** Stack-trace lines seen on stderr (a crash, or an error logged with its stack). */
  stackLines = 0;
  /** The first stack trace seen, a few lines of it. */
  firstStack: string | null = null;
  #tail = "";
  #partial = "";
  #lastLine = "";
  #listening: Array<(port: number) => void> = [];
  #lineWaiters = new Set<(line: string) => void>();
  #port: number | null = null;

  private constructor(args: readonly string[], nodeArgs: readonly string[]) {
    this.args = args;
    hookExit();
    this.child = spawn(
      process.execPath,
      [...nodeArgs, "--import", "tsx", `${ROOT}src/cli/main.ts`, ...args],
      {
        cwd: ROOT,
        stdio: ["ignore", "ignore", "pipe"],
        env: { ...process.env, NO_COLOR: "1" },
      },
    );
    this.pid = this.child.pid as number;
    live.add(this.child);
    this.child.stderr?.setEncoding("utf8");
    this.child.stderr?.on("data", (text: string) => this.#onStderr(text));
    this.exited = new Promise((resolve) => {
      // Judged only once its stderr is read to the end: "exit" can come before the last
      // lines are read from the pipe ("close" comes after). A child of its own holding the
      // pipe open is not waited for more than CLOSE_WAIT_MS.
      this.child.once("exit", (code, signal) => {
        live.delete(this.child);
        const done = () => resolve({ code, signal });
        const late = setTimeout(done, CLOSE_WAIT_MS);
        this.child.once("close", () => {
          clearTimeout(late);
          done();
        });
      });
      this.child.once("error", () => {
        live.delete(this.child);
        resolve({ code: null, signal: null });
      });
    });
  }

  /** Starts `socketkit ...args` from the source; `nodeArgs` go to Node.js itself. */
  static start(args: readonly string[], nodeArgs: readonly string[] = []): CliProcess {
    return new CliProcess(args, nodeArgs);
  }

  /** Still running. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last characters written to stderr. */
  stderr(): string {
    return this.#tail + this.#partial;
  }

  /** Lines of stderr (from the tail), but for the `listening on` line. */
  messages(): string[] {
    return this.stderr()
      .split("\n")
      .filter((l) => l !== "" && !l.startsWith("listening on "));
  }

  /**
   * Resolves with the port of the `listening on HOST:PORT` line; rejects if the process
   * exits first or `ms` pass.
   */
  listening(ms = 30_000): Promise<number> {
    if (this.#port !== null) return Promise.resolve(this.#port);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`socketkit ${this.args.join(" ")}: no "listening on" in ${ms} ms`));
      }, ms);
      const done = (port: number) => {
        clearTimeout(timer);
        resolve(port);
      };
      this.#listening.push(done);
      void this.exited.then((exit) => {
        if (this.#port !== null) return;
        clearTimeout(timer);
        reject(
          new Error(
            `socketkit ${this.args.join(" ")} exited (${exit.code ?? exit.signal}) before listening: ${this.stderr().slice(-500)}`,
          ),
        );
      });
    });
  }

  /**
   * Resolves with the first line of stderr (from now on, or still in the tail) that
   * matches `pattern`; with null if the process exits first or `ms` pass.
   */
  line(pattern: RegExp, ms: number): Promise<string | null> {
    const seen = this.stderr()
      .split("\n")
      .find((l) => pattern.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    if (!this.running) return Promise.resolve(null);
    return new Promise((resolve) => {
      const done = (line: string | null) => {
        clearTimeout(timer);
        this.#lineWaiters.delete(onLine);
        resolve(line);
      };
      const onLine = (line: string) => {
        if (pattern.test(line)) done(line);
      };
      const timer = setTimeout(() => done(null), ms);
      this.#lineWaiters.add(onLine);
      void this.exited.then(() => done(null));
    });
  }

  /**
   * SIGTERM, then SIGKILL if it is still running after `graceMs`. Resolves with how it
   * ended and whether it ended within the grace period.
   */
  async stop(graceMs: number): Promise<Exit & { inTime: boolean; ms: number }> {
    const started = performance.now();
    if (!this.running) return { ...(await this.exited), inTime: true, ms: 0 };
    this.child.kill("SIGTERM");
    let inTime = true;
    const timer = setTimeout(() => {
      inTime = false;
      this.child.kill("SIGKILL");
    }, graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return { ...exit, inTime, ms: performance.now() - started };
  }

  /** SIGKILL now, if it is still running. */
  kill(): void {
    if (this.running) this.child.kill("SIGKILL");
  }

  #onStderr(text: string): void {
    const lines = (this.#partial + text).split("\n");
    this.#partial = lines.pop() as string;
    if (this.#partial.length > TAIL_LENGTH) this.#partial = this.#partial.slice(-TAIL_LENGTH);
    for (const line of lines) this.#onLine(line);
  }

  #onLine(line: string): void {
    if (STACK_LINE.test(line)) {
      this.stackLines++;
      if (this.firstStack === null) this.firstStack = `${this.#lastLine}\n${line}`;
      else if (this.firstStack.split("\n").length < 8) this.firstStack += `\n${line}`;
    }
    this.#lastLine = line;
    this.#tail += `${line}\n`;
    if (this.#tail.length > TAIL_LENGTH) this.#tail = this.#tail.slice(-TAIL_LENGTH);
    for (const waiter of [...this.#lineWaiters]) waiter(line);
    if (this.#port === null) {
      const m = /listening on \S+:(\d+)/.exec(line);
      if (m !== null) {
        this.#port = Number(m[1]);
        for (const resolve of this.#listening) resolve(this.#port);
        this.#listening = [];
      }
    }
  }
}
