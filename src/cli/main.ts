#!/usr/bin/env node
/**
 * The `socketkit` command. Each subcommand lives in its own file and is a thin layer over
 * an `apps/` function.
 */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { registerInfo } from "./info.ts";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

const program = new Command()
  .name("socketkit")
  .description("Sockets the Python way: connect, listen, serve, chat, transfer, scan, ping.")
  .version(pkg.version)
  .showHelpAfterError()
  .addHelpText("after", "\nExample:\n  $ socketkit info");

registerInfo(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`socketkit: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
