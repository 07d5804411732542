/** The telnet protocol bytes (RFC 854, RFC 855, RFC 856, RFC 860). */
const IAC = 0xff;
const SB = 250;
const SE = 240;
const WILL = 251;
const WONT = 252;
const DO = 253;
const DONT = 254;
const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;

/** Commands (RFC 854, RFC 1184). */
const XEOF = 236;
const SUSP = 237;
const ABORT = 238;
const BRK = 243;
const IP = 244;
const AO = 245;
const AYT = 246;
const EL = 248;

/** Options. */
const BINARY = 0;
const TIMING_MARK = 6;

/**
 * The byte a telnet client that is not in binary mode takes for one of its special
 * characters, by the command it sends instead: it compares each byte with its 8th bit
 * masked off, so a UTF-8 continuation byte `0x80 | ^C` becomes IAC IP, and so on (the
 * defaults: intr ^C, quit ^\, susp ^Z, flush ^O, eof ^D).
 */
const MASKED: ReadonlyMap<number, number> = new Map([
  [IP, 0x83],
  [ABORT, 0x9c],
  [BRK, 0x9c],
  [SUSP, 0x9a],
  [AO, 0x8f],
  [XEOF, 0x84],
]);

/** Commands that cancel the line being typed, as Ctrl-C does at a shell prompt. */
const CANCELS_LINE: ReadonlySet<number> = new Set([IP, ABORT, SUSP, BRK, EL]);

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

/** Where the peer's BINARY option stands (RFC 1143, for the one option we want on). */
enum Binary {
  Off,
  /** We sent DO BINARY and wait for the answer. */
  Asked,
  On,
}

/**
 * Removes telnet's in-band protocol from a byte stream, leaving the text a person typed,
 * and answers the peer's negotiation the way a line-mode server should:
 *
 * - option negotiation (`IAC WILL/WONT/DO/DONT opt`), subnegotiations (`IAC SB ... IAC SE`)
 *   and the other commands (`IAC NOP`, `IAC AYT`, ...) are dropped from the text, an
 *   escaped `IAC IAC` becomes one 0xFF byte, and the NUL of telnet's bare carriage return
 *   (`CR NUL`) is dropped, leaving the CR;
 * - nothing is ever answered to a peer that has not sent a telnet command itself, so nc
 *   and programs see no telnet byte; the first command shows a telnet client, which is
 *   then asked to send 8-bit data untouched (`IAC DO BINARY`): until then telnet compares
 *   each typed byte, its 8th bit masked off, with its interrupt characters, so UTF-8 text
 *   such as `у` (D1 83) or `Ã` (C3 83) turns into `IAC IP`;
 * - `IAC DO TIMING-MARK` is answered with `IAC WILL TIMING-MARK` (RFC 860): telnet sends it
 *   after an interrupt and shows nothing until it has the answer; other options are
 *   refused (`WONT`, `DONT`);
 * - `IAC IP`, `ABORT`, `SUSP`, `BRK` and `EL` cancel the line being typed (see
 *   {@link cancelledLine}); `AYT` is answered with `[yes]`;
 * - before BINARY is agreed, an `IAC IP`, `ABORT`, `SUSP`, `BRK`, `AO` or `EOF` that comes in
 *   the middle of a UTF-8 character is the byte telnet took for its special character,
 *   and that byte (`0x83` for IP, ...) is put back in the text.
 *
 * What to send back to the peer is collected and handed out by {@link takeReply}; the
 * filter itself does no I/O. A state machine over Buffers: sequences split across chunks
 * are handled, and it holds no text between calls (a subnegotiation is skipped, never
 * buffered, however long it is).
 *
 * A chunk with no IAC and no NUL (almost every chunk from nc or a program) is returned
 * as it is, without a copy.
 *
 * @example
 * ```ts
 * import { TelnetFilter } from "./telnet-filter.ts";
 * const filter = new TelnetFilter();
 * filter.push(Buffer.from([0xff, 0xfd, 0x06, 0x68, 0x69, 0x0d, 0x0a])).toString(); // "hi\r\n"
 * filter.takeReply(); // IAC DO BINARY, IAC WILL TIMING-MARK: <Buffer ff fd 00 ff fb 06>
 * ```
 */
export class TelnetFilter {
  #state = State.Data;
  /** The verb (WILL, WONT, DO, DONT) whose option byte is awaited. */
  #verb = 0;
  #binary = Binary.Off;
  /** The peer has sent a telnet command: it is a telnet client. */
  #telnet = false;
  /** Continuation bytes the last UTF-8 character of the text still needs. */
  #utf8Need = 0;
  #reply: number[] = [];
  #cancelled = false;
  #interrupted = false;

  /**
   * True inside a command or a subnegotiation whose end has not come yet: the bytes
   * pushed meanwhile are the peer's, though none of them is text.
   */
  get midCommand(): boolean {
    return this.#state !== State.Data && this.#state !== State.AfterCR;
  }

  /** True once the peer has sent a telnet command (it is a telnet client). */
  get isTelnet(): boolean {
    return this.#telnet;
  }

  /** True once the peer has agreed to send 8-bit data untouched (it WILL BINARY). */
  get binary(): boolean {
    return this.#binary === Binary.On;
  }

  /**
   * True when the last {@link push} met a command that cancels the line being typed
   * (Ctrl-C in telnet: `IAC IP`) before any line end in the text it returned: the part of
   * the line the caller holds from earlier pushes is to be dropped. (Text of the line
   * before the command in the same chunk is already left out of what push returned.)
   */
  get cancelledLine(): boolean {
    return this.#cancelled;
  }

  /**
   * True when the last {@link push} met a command that cancels the line being typed
   * (`IAC IP`, `ABORT`, `SUSP`, `BRK`, `EL`), wherever it was.
   */
  get interrupted(): boolean {
    return this.#interrupted;
  }

  /** The bytes to send back to the peer since the last call, or `undefined`. */
  takeReply(): Buffer | undefined {
    if (this.#reply.length === 0) return undefined;
    const reply = Buffer.from(this.#reply);
    this.#reply = [];
    return reply;
  }

  /** The text bytes of `chunk` (a view of it, itself, or a new Buffer). */
  push(chunk: Buffer): Buffer {
    this.#cancelled = false;
    this.#interrupted = false;
    if (
      this.#state === State.Data &&
      chunk.indexOf(IAC) === -1 &&
      chunk.indexOf(NUL) === -1 &&
      chunk.length > 0
    ) {
      if (chunk[chunk.length - 1] === CR) this.#state = State.AfterCR;
      // Only the last character can be unfinished: it starts in the last 4 bytes.
      let need = chunk.length >= 4 ? 0 : this.#utf8Need;
      for (let i = Math.max(0, chunk.length - 4); i < chunk.length; i++) {
        need = utf8Step(need, chunk[i] as number);
      }
      this.#utf8Need = need;
      return chunk;
    }
    const out = Buffer.allocUnsafe(chunk.length);
    let n = 0;
    /** Where the line being typed starts in `out` (after the last line end). */
    let lineStart = 0;
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
            this.#utf8Need = utf8Step(this.#utf8Need, b);
            if (b === CR) state = State.AfterCR;
            if (b === CR || b === LF) lineStart = n;
          }
          break;
        case State.Command:
          state = State.Data;
          if (b === IAC) {
            out[n++] = IAC; // IAC IAC: a literal 0xFF
            this.#utf8Need = 0;
            break;
          }
          // No command is below EOF (236): a stray 0xFF in a program's bytes, dropped with
          // the byte after it as before, and no sign of a telnet client (nothing is sent).
          if (b < XEOF) break;
          this.#sawCommand();
          if (b >= WILL && b <= DONT) {
            this.#verb = b;
            state = State.Option;
          } else if (b === SB) state = State.Sub;
          else {
            const masked = this.#binary === Binary.On ? undefined : MASKED.get(b);
            if (masked !== undefined && this.#utf8Need > 0) {
              out[n++] = masked;
              this.#utf8Need = utf8Step(this.#utf8Need, masked);
            } else if (CANCELS_LINE.has(b)) {
              if (lineStart === 0) this.#cancelled = true;
              this.#interrupted = true;
              n = lineStart;
              this.#utf8Need = 0;
            } else if (b === AYT) {
              this.#reply.push(...Buffer.from("\r\n[yes]\r\n"));
            }
            // NOP, DM, GA, EC, AO, EOR (or a stray byte): nothing to do
          }
          break;
        case State.Option:
          state = State.Data;
          this.#negotiate(this.#verb, b);
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

  /** The peer sent a command: the first one shows a telnet client, asked for BINARY. */
  #sawCommand(): void {
    if (this.#telnet) return;
    this.#telnet = true;
    if (this.#binary === Binary.Off) {
      this.#binary = Binary.Asked;
      this.#reply.push(IAC, DO, BINARY);
    }
  }

  /**
   * Answers `IAC verb option` (RFC 854's rules: a request to enter the state an option
   * is already in is not acknowledged, so no negotiation loops). Only the peer's BINARY
   * is ever enabled; on our side no option is, and TIMING-MARK is answered every time.
   */
  #negotiate(verb: number, option: number): void {
    switch (verb) {
      case WILL:
        if (option !== BINARY) this.#reply.push(IAC, DONT, option);
        else if (this.#binary === Binary.Off) this.#reply.push(IAC, DO, BINARY);
        if (option === BINARY) this.#binary = Binary.On;
        break;
      case WONT:
        if (option === BINARY) {
          if (this.#binary === Binary.On) this.#reply.push(IAC, DONT, BINARY);
          this.#binary = Binary.Off;
        }
        break;
      case DO:
        this.#reply.push(IAC, option === TIMING_MARK ? WILL : WONT, option);
        break;
      // DONT: every option of ours is off already.
    }
  }
}

/**
 * The continuation bytes still needed after byte `b`, `need` having been needed before
 * it. Invalid sequences count as finished: only a character cut short by a masked byte
 * matters here.
 */
function utf8Step(need: number, b: number): number {
  if (b >= 0x80 && b < 0xc0) return need > 0 ? need - 1 : 0;
  if (b >= 0xc2 && b < 0xe0) return 1;
  if (b >= 0xe0 && b < 0xf0) return 2;
  if (b >= 0xf0 && b < 0xf5) return 3;
  return 0;
}
