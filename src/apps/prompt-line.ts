import { clearScreenDown, cursorTo, type Interface, moveCursor } from "node:readline";
import type { Writable } from "node:stream";

/**
 * A readline prompt on a terminal with text printed above it: what arrives (a room's
 * lines, a peer's bytes, a log line) clears every row the prompt and the line being
 * typed take, however many the input wraps to, is written where they began, and the
 * prompt and the input are drawn again below it. A resize of the terminal redraws them in
 * place. Once the interface is closed, text is written as it comes and no prompt is drawn
 * again (readline refuses to be used after `close`).
 *
 * Used by `chat join`, the interactive `connect` and `listen`, and the operator of
 * `chat serve --nick`.
 */
export class PromptLine {
  readonly #rl: Interface;
  /** The terminal the prompt is drawn on (readline's output). */
  readonly #terminal: Writable;
  /**
   * Rows the prompt and the input took above the cursor when they were cleared for text;
   * null while they show.
   */
  #hiddenRows: number | null = null;
  #closed = false;

  constructor(rl: Interface, terminal: Writable) {
    this.#rl = rl;
    this.#terminal = terminal;
    rl.once("close", () => {
      this.#closed = true;
      this.#terminal.off("resize", this.#onResize);
    });
    // Before readline's own redraw, which assumes the terminal did not re-wrap the input.
    terminal.prependListener("resize", this.#onResize);
  }

  /** Whether the interface is closed (nothing is drawn any more). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Draws the prompt (and what is typed), unless it shows already or input is closed. */
  show(): void {
    if (this.#closed) return;
    if (this.#hiddenRows !== null) {
      // The cursor is where the prompt starts.
      this.#alignForRedraw(0);
      this.#hiddenRows = null;
    }
    this.#rl.prompt(true);
  }

  /** Clears every row the prompt and the input take, leaving the cursor where they began. */
  hide(): void {
    if (this.#closed || this.#hiddenRows !== null) return;
    const { rows } = this.#rl.getCursorPos();
    moveCursor(this.#terminal, 0, -rows);
    cursorTo(this.#terminal, 0);
    clearScreenDown(this.#terminal);
    this.#hiddenRows = rows;
  }

  /** Sets the prompt's text; it shows at the next {@link show}. */
  setPrompt(prompt: string): void {
    this.#rl.setPrompt(prompt);
  }

  /**
   * Writes `text` to `stream` (the terminal by default, or another stream on the same
   * terminal such as stderr) above the prompt, then draws the prompt again. Text that does
   * not end a line gets the prompt on the next line.
   */
  print(text: string | Buffer, stream: Writable = this.#terminal): void {
    this.hide();
    stream.write(text);
    const last =
      typeof text === "string" ? text.charCodeAt(text.length - 1) : text[text.length - 1];
    if (!this.#closed && text.length > 0 && last !== 0x0a) this.#terminal.write("\n");
    this.show();
  }

  /** Stops following the terminal's size (the interface is left to its owner to close). */
  dispose(): void {
    this.#terminal.off("resize", this.#onResize);
  }

  /**
   * How many rows readline will move up before it redraws the prompt and the input (its
   * `prevRows`: where it last left the cursor below the prompt's first row, not updated
   * when typing at the end of the input wraps to a new row). When a Node.js does not have
   * it, the cursor's row as it should be.
   */
  #readlineRows(): number {
    const kept = (this.#rl as unknown as { prevRows?: unknown }).prevRows;
    return typeof kept === "number" ? kept : this.#rl.getCursorPos().rows;
  }

  /**
   * The terminal changed width, and readline redraws the prompt and the input after moving
   * up {@link #readlineRows} rows. A terminal that wraps its lines again at the new width
   * (tmux, VTE, iTerm2, Windows Terminal, kitty) has moved the cursor to the row its
   * character has at the new width: the cursor is first put where readline's move lands on
   * the prompt's first row, so that no stale copy of the prompt is left.
   */
  #onResize = (): void => {
    if (this.#closed || this.#hiddenRows !== null) return;
    const { rows } = this.#rl.getCursorPos();
    this.#alignForRedraw(rows);
  };

  /** Puts the cursor `readlineRows - rowsBelowStart` rows lower, line feeds going down. */
  #alignForRedraw(rowsBelowStart: number): void {
    const shift = this.#readlineRows() - rowsBelowStart;
    if (shift < 0) moveCursor(this.#terminal, 0, shift);
    else if (shift > 0) this.#terminal.write("\n".repeat(shift));
  }
}
