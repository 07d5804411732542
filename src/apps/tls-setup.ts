import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { ConnectionOptions, TlsOptions } from "node:tls";

/** How a server gets its certificate. */
export interface ServerTlsChoice {
  /** PEM certificate file. */
  cert?: string;
  /** PEM private key file. */
  key?: string;
  /** Make a throwaway certificate for "localhost" in memory. */
  selfSigned?: boolean;
}

/** A server's TLS options and its certificate's SHA-256 fingerprint (for clients to pin). */
export interface ServerTls {
  options: TlsOptions;
  fingerprint256: string;
}

/**
 * The TLS options a server runs with: from `--cert`/`--key` files, or a self-signed
 * certificate made in memory (nothing is written to disk).
 */
export async function serverTls(choice: ServerTlsChoice): Promise<ServerTls> {
  let cert: string;
  let key: string;
  if (choice.selfSigned) {
    const notAfterDate = new Date(Date.now() + 30 * 24 * 3600 * 1000);
    // Loaded here, not at startup: its X.509 stack takes about 60 ms to load, paid by
    // every command otherwise.
    const { generate } = await import("selfsigned");
    const pems = await generate([{ name: "commonName", value: "localhost" }], {
      notAfterDate,
      keySize: 2048,
    });
    cert = pems.cert;
    key = pems.private;
  } else {
    if (choice.cert === undefined || choice.key === undefined) {
      throw new Error("Cannot serve TLS: give --cert FILE and --key FILE, or --tls-self-signed");
    }
    [cert, key] = await Promise.all([readFile(choice.cert, "utf8"), readFile(choice.key, "utf8")]);
  }
  return { options: { cert, key }, fingerprint256: new X509Certificate(cert).fingerprint256 };
}

/** How a client checks the server. */
export interface ClientTlsChoice {
  /** Accept any certificate (no verification). */
  insecure?: boolean;
  /** Accept only a certificate with this SHA-256 fingerprint (`AA:BB:...`). */
  fingerprint?: string;
}

/** The client side: verify by default; pin a fingerprint; or, asked for, verify nothing. */
export function clientTls(choice: ClientTlsChoice): {
  tls: ConnectionOptions;
  fingerprint256?: string;
} {
  if (choice.fingerprint !== undefined) {
    // The pin replaces the CA check (a pinned self-signed certificate is fine).
    return { tls: { rejectUnauthorized: false }, fingerprint256: choice.fingerprint };
  }
  return { tls: { rejectUnauthorized: !choice.insecure } };
}
