/** Splitting inputs at awkward boundaries, for codec tests. */

/** `input` cut at the given positions (out-of-range and repeated ones ignored). */
export function cut(input: Buffer, positions: readonly number[]): Buffer[] {
  const points = [...new Set(positions.filter((p) => p > 0 && p < input.length))].sort(
    (a, b) => a - b,
  );
  const pieces: Buffer[] = [];
  let start = 0;
  for (const p of [...points, input.length]) {
    pieces.push(input.subarray(start, p));
    start = p;
  }
  return pieces;
}

/** `input` as one-byte pieces. */
export function bytePieces(input: Buffer): Buffer[] {
  return Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1));
}
