/** The built-in services of `socketkit serve`, by name. */
import { chargen } from "./chargen.ts";
import { command } from "./command-shell.ts";
import type { Service } from "./service.ts";
import { daytime, discard, echo, greet, upper } from "./simple-services.ts";

export const SERVICES: Record<string, Service> = {
  echo,
  discard,
  daytime,
  chargen,
  upper,
  greet,
  command,
};
export type { Service };
