import { TRANSFER_VERSION } from "../../codec/transfer-codec.ts";
import { WormholeError } from "../../core/errors.ts";
import { Channel } from "../transfer/channel.ts";
import type { SourceTree } from "../transfer/files.ts";
import { runReceiver, runSender, type TransferSummary } from "../transfer/transfer.ts";
import { SealedWire } from "../transfer/wire.ts";
import type {
  WormholeReceiveOptions,
  WormholeSummary,
  WormholeTransferOptions,
} from "./transfer.ts";
import type { RecordPipe, Transit } from "./transit.ts";
import type { Wormhole } from "./wormhole.ts";

/**
 * Between two socketkit peers, a code carries socketkit's own transfer protocol
 * (docs/transfer-protocol.md) instead of wormhole's file offer: several files and
 * folders as they are (no zip), each file checked by its SHA-256, and a cut transfer
 * resumed from what the receiver staged. Each side says in the version exchange which
 * versions of the protocol it speaks (`app_versions.socketkit.transfer`); when both do,
 * the sender offers `{"socketkit": {"transfer": 2}}`, the receiver answers
 * `{"socketkit_ack": "ok"}`, and once the transit connection is made the protocol runs on
 * it from its preamble on, in the ChaCha20-Poly1305 records of `send --to --secret`
 * under keys derived from the wormhole's (so without a secret of its own): Node.js's own
 * cipher (OpenSSL) seals and opens them on the event loop while the thread pool moves the
 * bytes (src/apps/transfer/wire.ts). A peer that does not advertise the protocol, the real
 * `wormhole` among them, gets wormhole's own offers as before.
 * @module
 */

/** What socketkit puts in the `app_versions` of its version message. */
export const SOCKETKIT_APP_VERSIONS: Readonly<Record<string, unknown>> = Object.freeze({
  socketkit: Object.freeze({ transfer: Object.freeze([TRANSFER_VERSION]) }),
});

/**
 * The version of socketkit's transfer protocol both sides speak, from the peer's
 * `app_versions`; null when the peer speaks none this side does (it is not socketkit, or
 * one too old or too new).
 */
export function sharedTransferVersion(peerVersions: Record<string, unknown>): number | null {
  const socketkit = peerVersions.socketkit;
  if (typeof socketkit !== "object" || socketkit === null) return null;
  const versions = (socketkit as Record<string, unknown>).transfer;
  return Array.isArray(versions) && versions.includes(TRANSFER_VERSION) ? TRANSFER_VERSION : null;
}

/** The version a sender's `offer.socketkit` asks for, or undefined when the offer is another. */
export function offeredTransfer(offer: Record<string, unknown>): unknown {
  const socketkit = offer.socketkit;
  if (typeof socketkit !== "object" || socketkit === null) return undefined;
  return (socketkit as Record<string, unknown>).transfer ?? null;
}

/**
 * The sending side, once both sides have said they speak the protocol: gives the
 * receiver `transit`'s hints and the offer, waits for its answer, makes the transit
 * connection and sends `tree` over it.
 */
export async function sendNative(
  w: Wormhole,
  transit: Transit,
  tree: SourceTree,
  version: number,
  options: WormholeTransferOptions,
): Promise<WormholeSummary> {
  const started = performance.now();
  w.send({ transit: await transit.hints() });
  transit.setKey(w.deriveKey(`${w.appid}/transit-key`));
  w.send({ offer: { socketkit: { transfer: version } } });
  for (;;) {
    const m = await w.receive();
    if ("error" in m)
      throw new WormholeError(`The receiver refused: ${String(m.error)}`, {
        code: "ERR_WORMHOLE_REFUSED",
      });
    if ("transit" in m)
      transit.addPeerHints((m.transit as Record<string, unknown> | null)?.["hints-v1"]);
    if (!("answer" in m)) continue;
    const answer = (m.answer ?? {}) as Record<string, unknown>;
    if (answer.socketkit_ack !== "ok")
      throw new WormholeError(
        `The receiver did not take socketkit's transfer: ${JSON.stringify(answer)}`,
        { code: "ERR_WORMHOLE_REFUSED" },
      );
    break;
  }
  const pipe = await transit.connect();
  const summary = await onChannel(w, pipe, "sender", options, (channel) =>
    runSender(channel, tree, options.progress),
  );
  return summaryOf(summary, started, pipe);
}

/**
 * The receiving side, given the sender's `offer.socketkit` (its `transfer` version):
 * answers, makes the transit connection (with the hints `transit` was given) and writes
 * what comes into `options.dir` under the rules of `receive --port`: names checked,
 * `--overwrite`, `--max-size`, the free space, files staged in `.socketkit-partial` and
 * named once their SHA-256 matches, what a cut transfer staged offered for resuming.
 */
export async function receiveNative(
  w: Wormhole,
  transit: Transit | null,
  offered: unknown,
  options: WormholeReceiveOptions,
): Promise<WormholeSummary> {
  const started = performance.now();
  const refuse = (why: string): never => {
    w.send({ error: why });
    throw new WormholeError(why, { code: "ERR_WORMHOLE_REFUSED" });
  };
  if (offered !== TRANSFER_VERSION)
    refuse(
      `Cannot take socketkit's transfer protocol version ${JSON.stringify(offered)}: this socketkit speaks ${TRANSFER_VERSION}`,
    );
  if (transit === null) return refuse("Cannot take files without transit hints");
  w.send({ answer: { socketkit_ack: "ok" } });
  const pipe = await transit.connect();
  const summary = await onChannel(w, pipe, "receiver", options, (channel) =>
    runReceiver(
      channel,
      { dir: options.dir ?? ".", overwrite: options.overwrite, maxSize: options.maxSize },
      options.progress,
    ),
  );
  return summaryOf(summary, started, pipe);
}

/**
 * The key of what `from` sends: the wormhole's key, through HKDF-SHA256 with a purpose of
 * socketkit's (other than the transit's, so no key is used by two record layers).
 */
function directionKey(w: Wormhole, from: "sender" | "receiver"): Buffer {
  return w.deriveKey(`${w.appid}/socketkit-transfer/${from}`);
}

/**
 * Runs `run` on a transfer channel over the transit connection, in records under keys
 * from the wormhole's, after the protocol's handshake (preamble and `hello`, no secret);
 * the connection is closed however it ends.
 */
async function onChannel(
  w: Wormhole,
  pipe: RecordPipe,
  role: "sender" | "receiver",
  options: WormholeTransferOptions,
  run: (channel: Channel) => Promise<TransferSummary>,
): Promise<TransferSummary> {
  const { socket, buffered } = pipe.detach();
  const peer = role === "sender" ? "receiver" : "sender";
  const wire = new SealedWire(socket, directionKey(w, role), directionKey(w, peer), buffered);
  const channel = new Channel(socket, role, pipe.description, options.timeout ?? 30, wire);
  try {
    await channel.handshake(null);
    return await run(channel);
  } catch (err) {
    throw channel.reason(err);
  } finally {
    channel.close();
    await pipe.close();
  }
}

function summaryOf(transfer: TransferSummary, started: number, pipe: RecordPipe): WormholeSummary {
  return {
    kind: "files",
    bytes: transfer.bytes,
    seconds: (performance.now() - started) / 1000,
    sha256: transfer.sha256,
    via: pipe.description,
    transfer,
  };
}
