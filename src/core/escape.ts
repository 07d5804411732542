/**
 * Showing untrusted text on a terminal.
 * @module
 */

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
 * import { escapeControls } from "./escape.ts";
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
 * Text safe to print on a terminal, in the notation of a protocol reply: the same
 * characters as {@link escapeControls} are shown as codes, `\xNN` up to U+00FF (tabs
 * included) and `\uNNNN` above, so a line a client sent cannot act when it is echoed.
 *
 * @example
 * ```ts
 * import { escapeControlCodes } from "./escape.ts";
 * escapeControlCodes("rm\x1b[2J \u202eevil"); // "rm\\x1b[2J \\u202eevil"
 * ```
 */
export function escapeControlCodes(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

// JSON.stringify escapes the C0 controls and lone surrogates, but leaves DEL, the C1
// controls and the bidirectional controls as they are.
const UNESCAPED_BY_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` in double quotes for a message, as `JSON.stringify` writes it but with every
 * character {@link escapeControls} shows also escaped (`\u202e`), so a quoted name or
 * value cannot act on the terminal that prints the message, nor end its line. Text over
 * `max` characters is cut there, with `...` after it.
 *
 * @example
 * ```ts
 * import { quote } from "./escape.ts";
 * quote("a\u202eb\n"); // "\"a\\u202eb\\n\""
 * quote("abcdef", 3); // "\"abc...\""
 * ```
 */
export function quote(text: string, max = Number.POSITIVE_INFINITY): string {
  const shown = text.length > max ? `${text.slice(0, max)}...` : text;
  return JSON.stringify(shown).replace(
    UNESCAPED_BY_JSON,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
