/**
 * Removes secrets from text before it is written anywhere (log file, stderr, deployment logs).
 * Two mechanisms: field names that look secret are masked whatever their value, and known secret
 * values (credentials, tokens, keys) registered at runtime are replaced wherever they appear.
 */
export const REDACTED = "[redacted]";

const SECRET_KEY =
  /(token|secret|password|passwd|authorization|api[-_]?key|master[-_]?key|credential|cookie)/i;

/** Shorter values would cause false positives ("on", "true") without protecting anything. */
const MIN_SECRET_LENGTH = 6;

export class Redactor {
  private readonly values = new Set<string>();
  private pattern: RegExp | undefined;

  add(...secrets: readonly (string | undefined)[]): void {
    let changed = false;
    for (const s of secrets) {
      if (!s || s.length < MIN_SECRET_LENGTH || this.values.has(s)) continue;
      this.values.add(s);
      changed = true;
    }
    if (changed) this.rebuild();
  }

  remove(...secrets: readonly string[]): void {
    for (const s of secrets) this.values.delete(s);
    this.rebuild();
  }

  get size(): number {
    return this.values.size;
  }

  text(input: string): string {
    if (!this.pattern) return input;
    return input.replace(this.pattern, REDACTED);
  }

  /** A deep copy of `value` with secret-named fields masked and secret values replaced. */
  value(input: unknown, depth = 0): unknown {
    if (typeof input === "string") return this.text(input);
    if (depth > 8 || input === null || typeof input !== "object") return input;
    if (input instanceof Error) return { name: input.name, message: this.text(input.message) };
    if (Array.isArray(input)) return input.map((v) => this.value(v, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(input)) {
      out[k] =
        SECRET_KEY.test(k) && v !== undefined && v !== null && v !== "" ? REDACTED : this.value(v, depth + 1);
    }
    return out;
  }

  private rebuild(): void {
    if (this.values.size === 0) {
      this.pattern = undefined;
      return;
    }
    // Longest first so that a secret containing another is replaced whole.
    const alternatives = [...this.values].sort((a, b) => b.length - a.length).map(escapeRegExp);
    this.pattern = new RegExp(alternatives.join("|"), "g");
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export function isSecretKey(name: string): boolean {
  return SECRET_KEY.test(name);
}
