/** Text helpers for fixed-width terminal layouts (widths counted in code points). */

export function width(s: string): number {
  return [...s].length;
}

/** Cuts `s` to `max` columns, marking the cut with an ellipsis. */
export function truncate(s: string, max: number): string {
  if (max <= 0) return "";
  const chars = [...s.replace(/[\r\n\t]+/g, " ")];
  if (chars.length <= max) return chars.join("");
  return `${chars.slice(0, max - 1).join("")}…`;
}

export function padEnd(s: string, n: number): string {
  const t = truncate(s, n);
  return t + " ".repeat(Math.max(0, n - width(t)));
}

export function padStart(s: string, n: number): string {
  const t = truncate(s, n);
  return " ".repeat(Math.max(0, n - width(t))) + t;
}

/** Splits a line into chunks of `cols` columns (for wrapped log lines). */
export function chunk(s: string, cols: number): string[] {
  const chars = [...s.replace(/\t/g, "  ")];
  if (cols <= 0 || chars.length <= cols) return [chars.join("")];
  const out: string[] = [];
  for (let i = 0; i < chars.length; i += cols) out.push(chars.slice(i, i + cols).join(""));
  return out;
}

/** "12s ago", "5m ago", "3h ago", "2d ago", or "never". */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "?";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** Local wall-clock time HH:MM:SS of an ISO timestamp. */
export function clock(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "--:--:--";
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

export function ms(n: number | null | undefined): string {
  if (n === null || n === undefined) return "-";
  if (n < 10) return `${n.toFixed(1)} ms`;
  if (n < 10_000) return `${Math.round(n)} ms`;
  return `${(n / 1000).toFixed(1)} s`;
}

export function percent(confidence: number): string {
  return `${Math.round(confidence * 100)}%`;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * Splits an argument line like a shell would for plain words and quotes ("a b", 'c d'); no
 * expansion of any kind.
 */
export function splitArgs(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: string | undefined;
  let has = false;
  for (const c of text) {
    if (quote) {
      if (c === quote) quote = undefined;
      else cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      has = true;
      continue;
    }
    if (/\s/.test(c)) {
      if (has) out.push(cur);
      cur = "";
      has = false;
      continue;
    }
    cur += c;
    has = true;
  }
  if (has) out.push(cur);
  return out;
}

/** The inverse of `splitArgs` for display: words with spaces are quoted. */
export function joinArgs(args: string[]): string {
  return args.map((a) => (/[\s'"]/.test(a) || a === "" ? JSON.stringify(a) : a)).join(" ");
}
