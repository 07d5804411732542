// Types of text.js, for the tests that import it in Node.js.
export declare function escapeControls(text: string): string;
export declare const PALETTE: readonly string[];
export declare function nickColor(nick: string): string;
export interface ChatLine {
  kind: "message" | "action" | "private" | "notice" | "error" | "prompt" | "text";
  time: string | null;
  nick: string | null;
  prefix: string;
  who: string;
  text: string;
}
export declare function parseLine(raw: string): ChatLine;
export declare function isPrompt(line: string): boolean;
export declare function utf8Length(text: string): number;
