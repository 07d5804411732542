#!/usr/bin/env node
/**
 * The `socketkit` command. Each subcommand lives in its own file and is a thin layer over
 * an `apps/` function.
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { SocketError } from "../core/errors.ts";
import { registerBench } from "./bench.ts";
import { registerChat } from "./chat.ts";
import { registerConnect } from "./connect.ts";
import { registerInfo } from "./info.ts";
import { registerListen } from "./listen.ts";
import { registerPing } from "./ping.ts";
import { registerScan } from "./scan.ts";
import { registerServe } from "./serve.ts";
import { registerTransfer } from "./transfer.ts";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

const program = new Command()
  .name("socketkit")
  .description("Sockets the Python way: connect, listen, serve, chat, transfer, scan, ping.")
  .version(pkg.version)
  .showHelpAfterError()
  .exitOverride()
  .addHelpText("after", "\nExample:\n  $ socketkit connect 127.0.0.1 5000");

registerConnect(program);
registerListen(program);
registerServe(program);
registerChat(program);
registerTransfer(program);
registerScan(program);
registerPing(program);
registerBench(program);
registerInfo(program);
for (const command of program.commands) command.exitOverride();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander has printed its message; help and --version exit 0, usage errors 2.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    const message = err instanceof SocketError || err instanceof Error ? err.message : String(err);
    process.stderr.write(`socketkit: ${message}\n`);
    process.exitCode = 1;
  }
}
