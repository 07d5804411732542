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
