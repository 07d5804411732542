import { type Command, InvalidArgumentError } from "commander";
import { AccessList } from "../core/access-list.ts";
import { AccessListError } from "../core/errors.ts";

/** The access flags every server command shares. */
export interface AccessFlags {
  allow?: string[];
  deny?: string[];
}

/** Checks one `--allow`/`--deny` value at once and adds it to the ones given before. */
function collect(kind: "allow" | "deny") {
  return (value: string, previous: string[] | undefined): string[] => {
    try {
      new AccessList({ [kind]: [value] });
    } catch (err) {
      if (err instanceof AccessListError) throw new InvalidArgumentError(err.message);
      throw err;
    }
    return [...(previous ?? []), value];
  };
}

/** Adds `--allow <list>` and `--deny <list>` (comma-separated, repeatable) to a command. */
export function addAccessFlags(command: Command): Command {
  return command
    .option(
      "--allow <list>",
      "let in only these peers: IPv4/IPv6 addresses and CIDR ranges, comma-separated, repeatable",
      collect("allow"),
    )
    .option(
      "--deny <list>",
      "refuse these peers (wins over --allow): addresses and CIDR ranges, comma-separated, repeatable",
      collect("deny"),
    );
}

/**
 * The `allow`/`deny` options for an app, from the flags. A Unix socket has no peer
 * address to check, so the flags given with `--unix` are a usage error.
 */
export function accessFromFlags(
  command: Command,
  flags: AccessFlags & { unix?: string },
): { allow?: string[]; deny?: string[] } {
  if (flags.unix !== undefined && (flags.allow !== undefined || flags.deny !== undefined)) {
    command.error("error: --allow and --deny take IP addresses: they do not go with --unix", {
      exitCode: 2,
      code: "socketkit.usage",
    });
  }
  return { allow: flags.allow, deny: flags.deny };
}
