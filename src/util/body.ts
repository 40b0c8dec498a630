/** The body exceeded its limit; callers turn this into their own named error. */
export class TooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`body exceeds ${limit} bytes`);
  }
}

/**
 * Reads a body as text without ever buffering more than `limit` bytes: the declared length is
 * checked first, then the running total while streaming (a lying Content-Length is no way around).
 */
export async function readCapped(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
  declared?: string | null,
): Promise<string> {
  const length = Number(declared ?? Number.NaN);
  if (Number.isFinite(length) && length > limit) throw new TooLargeError(limit);
  if (!body) return "";
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new TooLargeError(limit);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
}
