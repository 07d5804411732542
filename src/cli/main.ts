#!/usr/bin/env node
/**
 * The `socketkit` command. Each subcommand lives in its own file and is a thin layer over
 * an `apps/` function.
 */
import { readFileSync } from "node:fs";
import module from "node:module";
import { Command, CommanderError } from "commander";
import { messageOf } from "../core/errors.ts";
import { listenForConnectL } from "./listen-alias.ts";
import "../native/register.ts";

type Register = (program: Command) => void;

// Node.js 22.1 and later keep the compiled code of the modules loaded below on the disk
// (in the system's temporary folder; NODE_DISABLE_COMPILE_CACHE=1 turns it off), which
// takes a third off a command's start-up from the second run on. Older lines have none.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

/**
 * Each command's module, loaded when it is needed: a run of one command loads only its
 * own module (and what that imports), which halves the start-up time; help, version and
 * unknown names load them all.
 */
const MODULES = {
  connect: () => import("./connect.ts").then((m) => m.registerConnect),
  listen: () => import("./listen.ts").then((m) => m.registerListen),
  serve: () => import("./serve.ts").then((m) => m.registerServe),
  chat: () => import("./chat.ts").then((m) => m.registerChat),
  transfer: () => import("./transfer.ts").then((m) => m.registerTransfer),
  scan: () => import("./scan.ts").then((m) => m.registerScan),
  ping: () => import("./ping.ts").then((m) => m.registerPing),
  bench: () => import("./bench.ts").then((m) => m.registerBench),
  info: () => import("./info.ts").then((m) => m.registerInfo),
  relay: () => import("./relay.ts").then((m) => m.registerRelay),
} satisfies Record<string, () => Promise<Register>>;

/** Commands registered by a module of another name. */
const MODULE_OF: Record<string, keyof typeof MODULES> = {
  send: "transfer",
  receive: "transfer",
  share: "transfer",
  fetch: "transfer",
};

/** The modules that register the command named first on the command line (all, if none). */
function modulesFor(argv: readonly string[]): (() => Promise<Register>)[] {
  const name = listenForConnectL(argv)[2] ?? "";
  const module = MODULE_OF[name] ?? (name in MODULES ? (name as keyof typeof MODULES) : null);
  return module === null ? Object.values(MODULES) : [MODULES[module]];
}

// A reader of our output that goes away (`socketkit connect ... | head -1`) ends the command
// quietly, as it ends `cat` or `nc`; any other failure to write the output is one line.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE")
    process.stderr.write(`socketkit: cannot write the output: ${err.message}\n`);
  process.exit(err.code === "EPIPE" ? (process.exitCode ?? 0) : 1);
});

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

const program = new Command()
  .name("socketkit")
  .description("Sockets the Python way: connect, listen, serve, chat, transfer, scan, ping.")
  .version(pkg.version)
  .showHelpAfterError("see 'socketkit --help'")
  .exitOverride()
  .addHelpText("after", "\nExample:\n  $ socketkit connect 127.0.0.1 5000");

for (const register of await Promise.all(modulesFor(process.argv).map((load) => load()))) {
  register(program);
}
/**
 * A usage error is its one line and where to read more, not the whole help (which runs to
 * 30 lines and scrolls the error away), on every command and subcommand.
 */
function oneLineUsageErrors(command: Command, path: string): void {
  for (const sub of command.commands) {
    const name = `${path} ${sub.name()}`;
    sub.exitOverride().showHelpAfterError(`see '${name} --help'`);
    oneLineUsageErrors(sub, name);
  }
}
oneLineUsageErrors(program, "socketkit");

try {
  await program.parseAsync(listenForConnectL(process.argv));
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander has printed its message; help and --version exit 0, usage errors 2.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    process.stderr.write(`socketkit: ${messageOf(err)}\n`);
    process.exitCode = 1;
  }
}
