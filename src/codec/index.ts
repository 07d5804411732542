/**
 * socketkit's codecs: state machines that turn a byte stream into messages and back,
 * with no transport inside. The socket layer pushes received chunks into them.
 *
 * @example
 * ```ts
 * import { LengthPrefixCodec, LineSplitter } from "socketkit";
 * const lines = new LineSplitter();
 * lines.push(Buffer.from("hello\r\nwor"));
 * lines.next()?.toString(); // "hello"
 * const frame = LengthPrefixCodec.encode(Buffer.from("hi")); // <Buffer 00 00 00 02 68 69>
 * ```
 * @module
 */
export { LengthPrefixCodec, type LengthPrefixCodecOptions } from "./length-prefix-codec.ts";
export { LineSplitter, type LineSplitterOptions } from "./line-splitter.ts";
export { TelnetFilter } from "./telnet-filter.ts";
