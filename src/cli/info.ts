import type { Command } from "commander";
import { formatHostInfo, hostInfo } from "../apps/info.ts";

/** `socketkit info`: host name, interfaces and addresses. */
export function registerInfo(program: Command): void {
  program
    .command("info")
    .description("show this host's name, interfaces and addresses")
    .option("--json", "print JSON for scripts")
    .addHelpText("after", "\nExample:\n  $ socketkit info\n  $ socketkit info --json")
    .action((options: { json?: boolean }) => {
      const info = hostInfo();
      process.stdout.write(
        options.json ? `${JSON.stringify(info, null, 2)}\n` : formatHostInfo(info),
      );
    });
}
