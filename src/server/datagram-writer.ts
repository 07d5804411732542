const WRITTEN: Promise<void> = Promise.resolve();

/** Collects a reply; the handler's `finish()` sends it back to the client as one datagram. */
export class DatagramWriter {
  /** What the handler wrote, in order: sent as one datagram when it returns. */
  readonly parts: Buffer[] = [];

  /** Adds bytes to the reply. */
  write(data: Buffer | string): Promise<void> {
    try {
      this.parts.push(typeof data === "string" ? Buffer.from(data) : data);
    } catch (err) {
      return Promise.reject(err);
    }
    // Nothing to wait for: one settled promise for every write, not one made per datagram.
    return WRITTEN;
  }

  /** The reply so far. */
  getvalue(): Buffer {
    return this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
  }
}
