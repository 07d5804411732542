/** Collects a reply; the handler's `finish()` sends it back to the client as one datagram. */
export class DatagramWriter {
  readonly parts: Buffer[] = [];

  /** Adds bytes to the reply. */
  async write(data: Buffer | string): Promise<void> {
    this.parts.push(typeof data === "string" ? Buffer.from(data) : data);
  }

  /** The reply so far. */
  getvalue(): Buffer {
    return Buffer.concat(this.parts);
  }
}
