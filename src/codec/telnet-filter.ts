/** The telnet protocol bytes (RFC 854, RFC 855). */
const IAC = 0xff;
const SB = 250;
const SE = 240;
const WILL = 251;
const DONT = 254;
const CR = 0x0d;
const NUL = 0x00;

enum State {
  Data,
  /** After a CR: a NUL next is telnet's "bare CR" padding and is dropped. */
  AfterCR,
  /** After IAC. */
  Command,
  /** After IAC WILL/WONT/DO/DONT: the option byte comes next. */
  Option,
  /** Inside IAC SB ... IAC SE (subnegotiation): everything is dropped. */
  Sub,
  /** After IAC inside a subnegotiation. */
  SubCommand,
}

/**
 * Removes telnet's in-band protocol from a byte stream, leaving the text a person typed:
 * option negotiation (`IAC WILL/WONT/DO/DONT opt`), subnegotiations (`IAC SB ... IAC SE`)
 * and the other commands (`IAC NOP`, `IAC AYT`, ...) are dropped, an escaped `IAC IAC`
 * becomes one 0xFF byte, and the NUL of telnet's bare carriage return (`CR NUL`) is
 * dropped, leaving the CR. A state machine over Buffers: sequences split across chunks
 * are handled, and it holds no bytes between calls (a subnegotiation is skipped, never
 * buffered, however long it is).
 *
 * A chunk with no IAC and no NUL (almost every chunk from nc or a program) is returned
 * as it is, without a copy.
 *
 * @example
 * ```ts
 * const filter = new TelnetFilter();
 * filter.push(Buffer.from([0xff, 0xfd, 0x01, 0x68, 0x69, 0x0d, 0x0a])).toString(); // "hi\r\n"
 * ```
 */
export class TelnetFilter {
  #state = State.Data;

  /**
   * True inside a command or a subnegotiation whose end has not come yet: the bytes
   * pushed meanwhile are the peer's, though none of them is text.
   */
  get midCommand(): boolean {
    return this.#state !== State.Data && this.#state !== State.AfterCR;
  }

  /** The text bytes of `chunk` (a view of it, itself, or a new Buffer). */
  push(chunk: Buffer): Buffer {
    if (
      this.#state === State.Data &&
      chunk.indexOf(IAC) === -1 &&
      chunk.indexOf(NUL) === -1 &&
      chunk.length > 0
    ) {
      if (chunk[chunk.length - 1] === CR) this.#state = State.AfterCR;
      return chunk;
    }
    const out = Buffer.allocUnsafe(chunk.length);
    let n = 0;
    let state = this.#state;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i] as number;
      if (state === State.AfterCR) {
        state = State.Data;
        if (b === NUL) continue;
      }
      switch (state) {
        case State.Data:
          if (b === IAC) state = State.Command;
          else {
            out[n++] = b;
            if (b === CR) state = State.AfterCR;
          }
          break;
        case State.Command:
          if (b === IAC) {
            out[n++] = IAC; // IAC IAC: a literal 0xFF
            state = State.Data;
          } else if (b >= WILL && b <= DONT) state = State.Option;
          else if (b === SB) state = State.Sub;
          else state = State.Data; // NOP, AYT, GA, ... (or a stray byte): dropped
          break;
        case State.Option:
          state = State.Data;
          break;
        case State.Sub:
          if (b === IAC) state = State.SubCommand;
          break;
        case State.SubCommand:
          state = b === SE ? State.Data : State.Sub;
          break;
      }
    }
    this.#state = state;
    return out.subarray(0, n);
  }
}
