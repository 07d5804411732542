/** Short flags that take no value and that `listen` has too, which may be grouped with `-l` (`-lvk`). */
const CONNECT_SWITCHES = "46CNknuv";

/**
 * `connect -l ...` is `listen ...`, as `nc -l` and `ncat -l` are: the arguments of a
 * `connect` command line holding `-l` or `--listen` (alone or grouped with other switches,
 * as in `-lk`), without it, for `listen`. Other command lines are returned unchanged.
 */
export function listenForConnectL(argv: readonly string[]): string[] {
  if (argv[2] !== "connect") return [...argv];
  const end = argv.indexOf("--");
  const args = argv.slice(3, end < 0 ? undefined : end);
  const rest = end < 0 ? [] : argv.slice(end);
  const group = new RegExp(`^-[${CONNECT_SWITCHES}]*l[${CONNECT_SWITCHES}l]*$`);
  const at = args.findIndex((a) => a === "--listen" || group.test(a));
  if (at < 0) return [...argv];
  const flag = args[at] as string;
  const others = flag === "--listen" ? "" : flag.slice(1).replaceAll("l", "");
  const kept = [...args.slice(0, at), ...(others ? [`-${others}`] : []), ...args.slice(at + 1)];
  return [argv[0] as string, argv[1] as string, "listen", ...kept, ...rest];
}
