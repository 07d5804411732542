/**
 * The chat's text rules: what a member's line may show on another member's terminal,
 * what a nickname may be, and how relayed lines are stamped.
 * @module
 */

export { escapeControls } from "../../core/escape.ts";

/** Longest nickname, in characters. */
export const MAX_NICK_LENGTH = 24;

const decoder = new TextDecoder("utf-8", { fatal: false });

/** A received line as text: UTF-8, with invalid sequences shown as U+FFFD. */
export function decodeLine(line: Buffer): string {
  return decoder.decode(line);
}

/**
 * Why `nick` cannot be a nickname, or null when it can: 1 to {@link MAX_NICK_LENGTH}
 * characters, letters (any script), digits, and `_ - . [ ] { } | ^ \``, not starting with
 * a digit or `-` (IRC's rule, loosened to Unicode letters).
 */
export function nickProblem(nick: string): string | null {
  if (nick.length === 0) return "a nickname cannot be empty";
  if ([...nick].length > MAX_NICK_LENGTH) {
    return `a nickname has at most ${MAX_NICK_LENGTH} characters`;
  }
  if (!/^[\p{L}_.[\]{}|^`][\p{L}\p{N}_.[\]{}|^`-]*$/u.test(nick)) {
    return "a nickname is letters, digits and _ - . [ ] { } | ^ `, starting with a letter";
  }
  return null;
}

/** `HH:MM:SS` of `date`, in the server's local time. */
export function clock(date: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

/** Longest room name, in characters. */
export const MAX_ROOM_LENGTH = 32;

/**
 * Why `name` cannot be a room's name, or null when it can: 1 to {@link MAX_ROOM_LENGTH}
 * letters (any script), digits, and `_ - . #`.
 */
export function roomProblem(name: string): string | null {
  if (name.length === 0) return "usage: /join ROOM";
  if ([...name].length > MAX_ROOM_LENGTH) {
    return `a room's name has at most ${MAX_ROOM_LENGTH} characters`;
  }
  if (!/^[\p{L}\p{N}_.#-]+$/u.test(name)) return "a room's name is letters, digits and _ - . #";
  return null;
}
