/**
 * The chat's text rules: what a member's line may show on another member's terminal,
 * what a nickname may be, and how relayed lines are stamped.
 * @module
 */

/** Longest nickname, in characters. */
export const MAX_NICK_LENGTH = 24;

const decoder = new TextDecoder("utf-8", { fatal: false });

/** A received line as text: UTF-8, with invalid sequences shown as U+FFFD. */
export function decodeLine(line: Buffer): string {
  return decoder.decode(line);
}

// C0 controls, DEL, C1 controls (CSI U+009B included), and the Unicode bidirectional
// controls that reorder what follows them (a line could otherwise appear to say
// something else, or spoof another member's name).
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text safe to print on someone else's terminal: every control character is shown
 * visibly instead of acting — ESC as `^[`, other C0 controls in caret notation (`^G`),
 * DEL as `^?`, C1 and bidirectional controls as `<U+202E>` — so no member can move
 * another's cursor, change colours, clear the screen or reorder text. Tabs become a space.
 *
 * @example
 * ```ts
 * escapeControls("hi \x1b[2J there"); // "hi ^[[2J there"
 * ```
 */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    if (code === 0x09) return " ";
    if (code < 0x20) return `^${String.fromCharCode(code + 0x40)}`;
    if (code === 0x7f) return "^?";
    return `<U+${code.toString(16).toUpperCase().padStart(4, "0")}>`;
  });
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
