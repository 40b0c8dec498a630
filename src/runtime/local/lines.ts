/**
 * Splits a byte stream into newline-terminated lines without decoding partial UTF-8 sequences and
 * without copying on the common path (a whole line inside one chunk). A pending line longer than
 * `maxBytes` is reported as an overflow so the caller decides (kill the child, or cut the line).
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly maxBytes: number) {}

  /** Calls `line` for every complete line; false when the unfinished line exceeds `maxBytes`. */
  push(chunk: Buffer, line: (text: string) => void): boolean {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (this.size + piece.length > this.maxBytes) {
        this.clear();
        return false;
      }
      const bytes = this.size === 0 ? piece : Buffer.concat([...this.parts, piece]);
      this.clear();
      line(stripCr(bytes.toString("utf8")));
    }
    if (start < chunk.length) {
      this.parts.push(chunk.subarray(start));
      this.size += chunk.length - start;
    }
    return this.size <= this.maxBytes;
  }

  /** The unfinished line so far (cut to `maxBytes`), clearing it; undefined when there is none. */
  take(): string | undefined {
    if (this.size === 0) return undefined;
    const text = Buffer.concat(this.parts).subarray(0, this.maxBytes).toString("utf8");
    this.clear();
    return stripCr(text);
  }

  /** Drops the unfinished line. */
  clear(): void {
    this.parts = [];
    this.size = 0;
  }
}

function stripCr(text: string): string {
  return text.endsWith("\r") ? text.slice(0, -1) : text;
}
