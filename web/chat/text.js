// The chat page's text rules, as the terminal client has them: the same control-character
// escaping as socketkit's escapeControls, the same nickname colours as `chat join`, and
// what kind of line the room sent. No DOM here: the page renders what these return with
// textContent only, and the tests import this file in Node.js.

// C0 controls, DEL, C1 controls, and the Unicode bidirectional controls (the same set as
// src/core/escape.ts, which a test holds this to).
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text with every control character shown instead of acting: ESC as `^[`, other C0
 * controls in caret notation, DEL as `^?`, C1 and bidirectional controls as `<U+202E>`,
 * tabs as a space.
 * @param {string} text
 * @returns {string}
 */
export function escapeControls(text) {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    if (code === 0x09) return " ";
    if (code < 0x20) return `^${String.fromCharCode(code + 0x40)}`;
    if (code === 0x7f) return "^?";
    return `<U+${code.toString(16).toUpperCase().padStart(4, "0")}>`;
  });
}

/** The colours of `chat join`, in its order. */
export const PALETTE = ["cyan", "green", "yellow", "blue", "magenta", "red"];

/**
 * The colour of a nickname, as `chat join` picks it: the same name always gets the same.
 * @param {string} nick
 * @returns {string}
 */
export function nickColor(nick) {
  let hash = 0;
  for (const ch of nick) hash = (hash * 31 + (ch.codePointAt(0) ?? 0)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

// `(late) `: said on a server that was cut off from the others, told when it was back.
const MESSAGE =
  /^\[(\d\d:\d\d:\d\d)\] ((?:\(late\) )?(?:\(private(?: to \S+)?\) )?)(<(\S+)>|\* (\S+)) (.*)$/;
const STAMPED_NOTICE = /^\[(\d\d:\d\d:\d\d)\] ((?:\(late\) )?\*\*\* .*)$/;

/**
 * @typedef {object} ChatLine
 * @property {"message"|"action"|"private"|"notice"|"error"|"prompt"|"text"} kind
 * @property {string | null} time the room's time stamp (HH:MM:SS), null when it has none
 * @property {string | null} nick who said it
 * @property {string} prefix what comes before the nickname: `(private) `, `(private to x) `,
 *   `(late) `
 * @property {string} who the nickname as shown: `<alice>` or `* alice`
 * @property {string} text the rest of the line
 */

/**
 * What kind of line the room sent, in parts to render; the line is escaped first.
 * @param {string} raw
 * @returns {ChatLine}
 */
export function parseLine(raw) {
  const line = escapeControls(raw);
  const base = { time: null, nick: null, prefix: "", who: "", text: line };
  const m = MESSAGE.exec(line);
  if (m !== null) {
    const nick = m[4] ?? m[5] ?? "";
    const prefix = m[2] ?? "";
    const kind = prefix.includes("(private")
      ? "private"
      : m[4] !== undefined
        ? "message"
        : "action";
    return { kind, time: m[1] ?? null, nick, prefix, who: m[3] ?? "", text: ` ${m[6] ?? ""}` };
  }
  const n = STAMPED_NOTICE.exec(line);
  if (n !== null) return { ...base, kind: "notice", time: n[1] ?? null, text: n[2] ?? "" };
  if (isPrompt(line)) return { ...base, kind: "prompt" };
  if (line.startsWith("error: ")) return { ...base, kind: "error" };
  if (line.startsWith("*** ")) return { ...base, kind: "notice" };
  return { ...base, kind: "text" };
}

/**
 * Whether the room is asking for a nickname (its question has no line end).
 * @param {string} line
 * @returns {boolean}
 */
export function isPrompt(line) {
  return /(?:choose a nickname|choose another): $/i.test(line);
}

/**
 * Byte length of `text` in UTF-8 (what the server's line limit counts).
 * @param {string} text
 * @returns {number}
 */
export function utf8Length(text) {
  return new TextEncoder().encode(text).length;
}
