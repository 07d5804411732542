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
 * characters, letters (any script, with their combining marks), digits, and
 * `_ - . [ ] { } | ^ \``, not starting with a digit or `-` (IRC's rule, loosened to Unicode
 * letters); no invisible or filler character, no bidirectional control, no combining mark
 * without a letter before it.
 */
export function nickProblem(nick: string): string | null {
  if (nick.length === 0) return "a nickname cannot be empty";
  if ([...nick].length > MAX_NICK_LENGTH) {
    return `a nickname has at most ${MAX_NICK_LENGTH} characters`;
  }
  const bidi = BIDI_CONTROL.exec(nick);
  if (bidi !== null) {
    return `a nickname cannot hold bidirectional controls (${codePoint(bidi[0])})`;
  }
  const invisible = INVISIBLE.exec(nick);
  if (invisible !== null) {
    return `a nickname cannot hold invisible or filler characters (${codePoint(invisible[0])})`;
  }
  if (/^\p{M}/u.test(nick)) return "a nickname cannot start with a combining mark";
  if (/\p{M}{4}/u.test(nick)) return "a nickname has at most 3 combining marks on a letter";
  if (!/^[\p{L}_.[\]{}|^`][\p{L}\p{M}\p{N}_.[\]{}|^`-]*$/u.test(nick)) {
    return "a nickname is letters, digits and _ - . [ ] { } | ^ `, starting with a letter";
  }
  return null;
}

/** Unicode's bidirectional controls: embeddings, overrides, isolates and marks. */
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/u;

/**
 * Characters that show nothing: Unicode's default-ignorables (zero-width spaces and joiners,
 * word joiner and invisible operators, BOM, soft hyphen, variation selectors, Hangul
 * fillers...) and the blank letters that are not among them (Hangul Choseong filler, Braille blank).
 */
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\u115F\u1160\u3164\uFFA0\u2800]/u;

/** `U+3164`: a character's code point, as the refusals name it. */
function codePoint(char: string): string {
  return `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
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
