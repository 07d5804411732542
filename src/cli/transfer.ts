import { Writable } from "node:stream";
import { type Command, InvalidArgumentError } from "commander";
import {
  fetch,
  receive,
  send,
  share,
  type TransferProgress,
  type TransferSummary,
} from "../apps/transfer/index.ts";
import { DEFAULT_RELAY_URL, DEFAULT_TRANSIT_HELPER } from "../apps/wormhole/defaults.ts";
import type { WormholeSummary } from "../apps/wormhole/transfer.ts";
import { escapeControls } from "../core/escape.ts";
import { stderrLine } from "../core/log-budget.ts";
import { type AccessFlags, accessFromFlags, addAccessFlags } from "./access-flags.ts";
import { parseHost, parseHostPort, parsePort, parseSeconds } from "./parsers.ts";
import {
  addClientTlsFlags,
  addServerTlsFlags,
  type ClientTlsFlags,
  clientTlsFromFlags,
  type ServerTlsFlags,
  serverTlsFromFlags,
} from "./tls-flags.ts";
import { untilStopped } from "./until-stopped.ts";

/** A size in bytes, with an optional K, M, G or T (powers of 1024). */
export function parseSize(value: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)i?B?$/i.exec(value.trim());
  if (m === null)
    throw new InvalidArgumentError(`expected a size such as 500M or 2G, got "${value}"`);
  const power = " KMGT".indexOf((m[2] as string).toUpperCase() || " ");
  return Math.floor(Number(m[1]) * 1024 ** power);
}

interface Common {
  secret?: boolean;
  timeout: number;
}

/**
 * The secret for `--secret`: SOCKETKIT_SECRET, or asked for on the terminal without
 * echo. Never an argument, which other users could read in the process list.
 */
async function secretFrom(flags: Common): Promise<string | null> {
  if (!flags.secret) return null;
  const fromEnv = process.env.SOCKETKIT_SECRET;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new Error(
      "--secret needs the SOCKETKIT_SECRET environment variable, or a terminal to ask on",
    );
  }
  process.stderr.write("secret: ");
  const muted = new Writable({ write: (_chunk, _enc, done) => done() });
  // Loaded only here: most runs never ask (a command's start-up loads only what it uses).
  const { createInterface } = await import("node:readline");
  const rl = createInterface({ input: process.stdin, output: muted, terminal: true });
  try {
    const answer = await new Promise<string>((resolve) => rl.question("", resolve));
    process.stderr.write("\n");
    if (answer === "") throw new Error("--secret: the secret is empty");
    return answer;
  } finally {
    rl.close();
  }
}

/** A transfer's progress bar, and how lines are written to stderr while it shows. */
interface ProgressBar {
  progress?: TransferProgress;
  /** Writes a line above the bar, which goes on below it: the bar never draws over a line. */
  log: (line: string) => void;
  stop: () => void;
}

/**
 * A progress bar on stderr when it is a terminal (nothing otherwise; its library is
 * loaded only then, which saves a tenth of the start-up time).
 */
async function progressBar(): Promise<ProgressBar> {
  if (!process.stderr.isTTY) return { log: stderrLine, stop: () => {} };
  const { default: cliProgress } = await import("cli-progress");
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: "{name} |{bar}| {percentage}% {done}/{size} {rate} eta {eta_formatted}",
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = 0;
  let running = false;
  let value = 0;
  /** Bytes that were there before (a resumed file): they did not move, so no rate. */
  let base = 0;
  let total = 0;
  let payload: Record<string, string> = {};
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  return {
    progress: {
      file(name, size, resumedAt) {
        if (running) bar.stop();
        running = true;
        started = performance.now();
        value = resumedAt;
        base = resumedAt;
        total = size;
        payload = {
          name: escapeControls(name).slice(-30),
          size: mb(size),
          done: mb(resumedAt),
          rate: "",
        };
        bar.start(size, resumedAt, payload);
      },
      advance(bytes) {
        value += bytes;
        const seconds = (performance.now() - started) / 1000;
        const moved = value - base;
        payload = {
          ...payload,
          done: mb(value),
          rate: seconds > 0 ? `${mb(moved / seconds)}/s` : "",
        };
        bar.update(value, payload);
      },
    },
    log: (line) => {
      // The bar redraws its own line, where the cursor was when it started: it goes, the
      // line is written, and it starts again below.
      if (running) bar.stop();
      stderrLine(line);
      if (running) bar.start(total, value, payload);
    },
    stop: () => {
      if (running) bar.stop();
    },
  };
}

/**
 * The one-line summary, always printed: what moved, at what rate (of the bytes that moved,
 * not those already there), and what did not need to move: files already there, files
 * resumed and where.
 */
export function summaryLine(verb: string, s: TransferSummary): string {
  const mbps = s.seconds > 0 ? s.bytes / 1e6 / s.seconds : 0;
  const moved = `${s.bytes} bytes in ${s.seconds.toFixed(2)} s (${mbps.toFixed(1)} MB/s)`;
  const hash = `sha256 ${s.sha256}`;
  const only = s.files.length === 1 ? s.files[0] : undefined;
  if (only !== undefined) {
    const name = escapeControls(only.path);
    if (only.outcome === "present")
      return `${verb} ${name}: already there (${only.size} bytes, the same SHA-256), nothing moved, ${hash}`;
    if (only.outcome === "resumed")
      return `${verb} ${name}, resumed at ${only.resumedAt} of ${only.size} bytes: ${moved}, ${hash}`;
    return `${verb} ${name}, ${moved}, ${hash}`;
  }
  const present = s.files.filter((f) => f.outcome === "present").length;
  const resumed = s.files.filter((f) => f.outcome === "resumed");
  const notes: string[] = [];
  if (present > 0) notes.push(`${present} already there`);
  if (resumed.length === 1)
    notes.push(`1 resumed at ${(resumed[0] as { resumedAt: number }).resumedAt} bytes`);
  else if (resumed.length > 1) {
    const kept = resumed.reduce((n, f) => n + f.resumedAt, 0);
    notes.push(`${resumed.length} resumed with ${kept} bytes already there`);
  }
  const what = `${s.files.length} files${notes.length > 0 ? ` (${notes.join(", ")})` : ""}`;
  return `${verb} ${what}, ${moved}, ${hash}`;
}

/** Runs a transfer with a progress bar, giving it the bar and the log to write lines with. */
async function withProgress<T>(
  run: (progress: TransferProgress | undefined, log: (line: string) => void) => Promise<T>,
): Promise<T> {
  const bar = await progressBar();
  try {
    return await run(bar.progress, bar.log);
  } finally {
    bar.stop();
  }
}

/** `send`, `receive`, `share` and `fetch`. */
export function registerTransfer(program: Command): void {
  const common = (command: Command) =>
    command
      .option(
        "--secret",
        "a secret both sides know (from SOCKETKIT_SECRET, or asked for): checks the peer by SPAKE2 and encrypts the transfer",
      )
      .option("--timeout <seconds>", "give up on a peer silent this long", parseSeconds, 30);

  const sendCommand = program.command("send");
  wormholeFlags(common(addClientTlsFlags(sendCommand)))
    .description(
      "send files and folders to a waiting `socketkit receive` (--to), or with a Magic Wormhole code (files and folders to socketkit, a file, folder or text to wormhole)",
    )
    .argument("[paths...]", "files and folders to send")
    .option("--to <host:port>", "where `socketkit receive` listens", parseHostPort)
    .option("--text <text>", "send a text message with a code instead of a file")
    .option("--code <code>", "use this code instead of one allocated (as `wormhole send --code`)")
    .option("--code-length <words>", "words in an allocated code", parseWords, 2)
    .addHelpText(
      "after",
      "\nExamples:\n  $ socketkit send report.pdf                   # prints: Wormhole code is: 7-crossover-clockwork\n  $ socketkit send report.pdf photos/           # to socketkit receive CODE: folders, resume\n  $ socketkit send --text 'the wifi password is ...'\n  $ socketkit send report.pdf photos/ --to 192.168.1.20:9000\n  $ SOCKETKIT_SECRET=hunter2 socketkit send big.iso --to host:9000 --secret",
    )
    .action(
      async (
        paths: string[],
        flags: Common &
          ClientTlsFlags &
          WormholeFlags & {
            to?: [string, number];
            text?: string;
            code?: string;
            codeLength: number;
          },
      ) => {
        if (flags.to === undefined) {
          await sendWithCode(paths, flags);
          return;
        }
        if (paths.length === 0) throw new Error("send --to needs paths to send");
        const secret = await secretFrom(flags);
        const summary = await withProgress((progress, log) =>
          send(paths, flags.to as [string, number], {
            ...clientTlsFromFlags(flags),
            secret,
            timeout: flags.timeout,
            progress,
            log,
          }),
        );
        process.stderr.write(`${summaryLine("sent", summary)}\n`);
      },
    );

  const receiveCommand = program.command("receive");
  wormholeFlags(common(addServerTlsFlags(receiveCommand)))
    .description(
      "wait for one `socketkit send` and write what it sends into --dir, or receive with a Magic Wormhole code",
    )
    .argument(
      "[code]",
      "a Magic Wormhole code (from `socketkit send` or `wormhole send`); with neither it nor --port, it is asked for",
    )
    .option("--port <port>", "port (0 picks a free one)", parsePort, 0)
    .option("--host <host>", "address to bind", parseHost, "127.0.0.1")
    .option("--dir <dir>", "folder the files go to", ".")
    .option("--overwrite", "replace files that exist")
    .option("--max-size <bytes>", "refuse files larger than this (500M, 2G, ...)", parseSize)
    .addHelpText(
      "after",
      "\nExamples:\n  $ socketkit receive 7-crossover-clockwork\n  $ socketkit receive                    # asks for the code (Tab completes it)\n  $ socketkit receive --port 9000 --dir incoming\n  $ socketkit receive --host 0.0.0.0 --port 9000 --secret",
    )
    .action(
      async (
        code: string | undefined,
        flags: Common & ServerTlsFlags & AccessFlags & ReceiveFlags & WormholeFlags,
      ) => {
        // The flags of receiving from `send --to` choose that form; without them (and
        // without a code) the code is asked for, as `wormhole receive` asks.
        const listening = listeningFlags(receiveCommand);
        if (code !== undefined || listening.length === 0) {
          if (code !== undefined && listening.length > 0)
            receiveCommand.error(
              `error: ${listening.join(", ")} ${listening.length > 1 ? "are" : "is"} for receiving from \`send --to\`, not with a code`,
              { exitCode: 2, code: "socketkit.usage" },
            );
          await receiveWithCode(code, flags);
          return;
        }
        const access = accessFromFlags(receiveCommand, flags);
        const secret = await secretFrom(flags);
        const tls = await serverTlsFromFlags(receiveCommand, flags);
        const summary = await untilStopped((signal) =>
          withProgress((progress, log) =>
            receive({
              host: flags.host,
              port: flags.port,
              dir: flags.dir,
              overwrite: flags.overwrite,
              maxSize: flags.maxSize,
              secret,
              timeout: flags.timeout,
              tls: tls?.options,
              ...access,
              signal,
              progress,
              log,
            }),
          ),
        );
        if (summary !== null) process.stderr.write(`${summaryLine("received", summary)}\n`);
      },
    );

  const shareCommand = program.command("share");
  common(addServerTlsFlags(shareCommand))
    .description("serve files or folders to whoever runs `socketkit fetch`, until stopped")
    .argument("<paths...>", "files and folders to serve")
    .option("--port <port>", "port (0 picks a free one)", parsePort, 0)
    .option("--host <host>", "address to bind", parseHost, "127.0.0.1")
    .option("--once", "stop after one transfer")
    .addHelpText(
      "after",
      "\nExamples:\n  $ socketkit share test.txt --port 5001     # the tutorial's file server\n  $ socketkit share photos/ --port 9000 --once",
    )
    .action(
      async (
        paths: string[],
        flags: Common &
          ServerTlsFlags &
          AccessFlags & { port: number; host: string; once?: boolean },
      ) => {
        const access = accessFromFlags(shareCommand, flags);
        const secret = await secretFrom(flags);
        const tls = await serverTlsFromFlags(shareCommand, flags);
        let failed = false;
        await untilStopped((signal) =>
          share(paths, {
            host: flags.host,
            port: flags.port,
            once: flags.once,
            secret,
            timeout: flags.timeout,
            tls: tls?.options,
            ...access,
            signal,
            onTransfer: (peer, result) => {
              if (result instanceof Error) {
                failed = true;
                process.stderr.write(`${peer}: ${result.message}\n`);
              } else process.stderr.write(`${peer}: ${summaryLine("sent", result)}\n`);
            },
          }),
        );
        if (flags.once && failed) process.exitCode = 1;
      },
    );

  addAccessFlags(receiveCommand);
  addAccessFlags(shareCommand);

  const fetchCommand = program.command("fetch");
  common(addClientTlsFlags(fetchCommand))
    .description("download what a `socketkit share` serves")
    .argument("<host>", "the sharing host", parseHost)
    .argument("<port>", "its port", parsePort)
    .option("--dir <dir>", "folder the files go to", ".")
    .option("--overwrite", "replace files that exist")
    .option("--max-size <bytes>", "refuse files larger than this (500M, 2G, ...)", parseSize)
    .addHelpText("after", "\nExamples:\n  $ socketkit fetch 127.0.0.1 5001 --dir downloads")
    .action(async (host: string, port: number, flags: Common & ClientTlsFlags & ReceiveFlags) => {
      const secret = await secretFrom(flags);
      const summary = await withProgress((progress, log) =>
        fetch([host, port], {
          ...clientTlsFromFlags(flags),
          dir: flags.dir,
          overwrite: flags.overwrite,
          maxSize: flags.maxSize,
          secret,
          timeout: flags.timeout,
          progress,
          log,
        }),
      );
      process.stderr.write(`${summaryLine("received", summary)}\n`);
    });

  for (const command of [sendCommand, receiveCommand, shareCommand, fetchCommand])
    command.exitOverride();
}

interface ReceiveFlags {
  port: number;
  host: string;
  dir: string;
  overwrite?: boolean;
  maxSize?: number;
}

function parseWords(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 8)
    throw new InvalidArgumentError(`expected 1 to 8 words, got "${value}"`);
  return n;
}

interface WormholeFlags {
  relayUrl?: string;
  transitHelper?: string;
  listenOn?: string[];
  listen: boolean;
}

/** The flags of sending and receiving with a code. */
function wormholeFlags(command: Command): Command {
  return command
    .option("--relay-url <url>", `the rendezvous server (default ${DEFAULT_RELAY_URL})`)
    .option(
      "--transit-helper <tcp:host:port>",
      `the transit relay (default ${DEFAULT_TRANSIT_HELPER})`,
    )
    .option(
      "--listen-on <addresses>",
      "addresses given to the peer for a direct connection (default 127.0.0.1)",
      (v: string) => v.split(",").map((a) => parseHost(a.trim())),
    )
    .option("--no-listen", "no direct connection: everything through the transit relay");
}

function codeOptions(flags: Common & WormholeFlags) {
  return {
    relayUrl: flags.relayUrl,
    transitHelper: flags.transitHelper,
    listen: flags.listen ? (flags.listenOn ?? ["127.0.0.1"]) : [],
    timeout: flags.timeout,
  };
}

/**
 * The Magic Wormhole side, loaded only when a code is used: `send --to` and `receive --port`
 * start without its WebSocket and crypto modules.
 */
const wormholeModule = () => import("../apps/wormhole/transfer.ts");

async function sendWithCode(
  paths: string[],
  flags: Common & WormholeFlags & { text?: string; code?: string; codeLength: number },
): Promise<void> {
  if (flags.text === undefined && paths.length === 0)
    throw new Error("send needs files or folders to send, or --text");
  const what = flags.text !== undefined ? { text: flags.text } : { paths };
  const { wormholeSend } = await wormholeModule();
  const summary = await withProgress((progress, log) =>
    wormholeSend(what, {
      ...codeOptions(flags),
      code: flags.code,
      codeLength: flags.codeLength,
      progress,
      log,
      onCode: (code) => {
        log(`Wormhole code is: ${code}`);
        log(
          `On the other computer, run: socketkit receive ${code}  (or: wormhole receive ${code})`,
        );
      },
    }),
  );
  process.stderr.write(`${wormholeLine("sent", summary)}\n`);
}

/** The flags of `receive` that only receiving from `send --to` takes, as given. */
function listeningFlags(command: Command): string[] {
  const names = ["port", "host", "allow", "deny", "tls", "cert", "key", "tlsSelfSigned", "secret"];
  return command.options
    .filter((o) => names.includes(o.attributeName()))
    .filter((o) => command.getOptionValueSource(o.attributeName()) === "cli")
    .map((o) => o.long as string);
}

async function receiveWithCode(
  code: string | undefined,
  flags: Common & ReceiveFlags & WormholeFlags,
): Promise<void> {
  const { wormholeReceive } = await wormholeModule();
  const ask = async (nameplates: () => Promise<string[]>) =>
    (await import("./code-prompt.ts")).askCode({ nameplates });
  const summary = await withProgress((progress, log) =>
    wormholeReceive(code ?? ask, {
      ...codeOptions(flags),
      dir: flags.dir,
      overwrite: flags.overwrite,
      maxSize: flags.maxSize,
      progress,
      log,
      onText: (text) => process.stdout.write(`${text}\n`),
    }),
  );
  process.stderr.write(`${wormholeLine("received", summary)}\n`);
}

/** The summary line of a transfer with a code. */
export function wormholeLine(verb: string, s: WormholeSummary): string {
  if (s.kind === "text") return `${verb} a text of ${s.bytes} bytes`;
  if (s.transfer !== undefined)
    return `${summaryLine(verb, s.transfer)} (socketkit's protocol, ${s.via})`;
  const mbps = s.seconds > 0 ? s.bytes / 1e6 / s.seconds : 0;
  if (s.kind === "folder")
    return `${verb} the folder ${escapeControls(s.name ?? "")} (${s.files} files, ${s.fileBytes} bytes), a zip of ${s.bytes} bytes in ${s.seconds.toFixed(2)} s (${mbps.toFixed(1)} MB/s, ${s.via}), sha256 ${s.sha256}`;
  return `${verb} ${escapeControls(s.name ?? "")}, ${s.bytes} bytes in ${s.seconds.toFixed(2)} s (${mbps.toFixed(1)} MB/s, ${s.via}), sha256 ${s.sha256}`;
}
