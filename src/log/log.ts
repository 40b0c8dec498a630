import { appendFileSync, mkdirSync, renameSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { Redactor } from "./redact.ts";

export type Level = "debug" | "info" | "warn" | "error";
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A logger that adds `fields` to every line (for example `{deployment: "dep_…"}`). */
  child(fields: Fields): Logger;
  readonly redactor: Redactor;
}

export interface LogOptions {
  level?: Level;
  format?: "text" | "json";
  /** JSON-lines file; rotated to `<file>.1` when it exceeds `maxFileBytes`. */
  file?: string;
  maxFileBytes?: number;
  /** How long a log file that failed to write is left alone before the next attempt (30 s). */
  fileRetryMs?: number;
  /** Where human-readable lines go; defaults to stderr. `null` silences the console. */
  write?: ((line: string) => void) | null;
  redactor?: Redactor;
}

interface Sink {
  level: number;
  format: "text" | "json";
  file: string | undefined;
  maxFileBytes: number;
  fileRetryMs: number;
  /** Set while the log file cannot be written: when to try again, and the lines it missed. */
  broken: { retryAt: number; lost: number } | undefined;
  write: ((line: string) => void) | null;
  redactor: Redactor;
}

function stderr(line: string): void {
  process.stderr.write(`${line}\n`);
}

function textLine(time: string, level: Level, msg: string, fields: Fields): string {
  const parts = Object.entries(fields).map(
    ([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`,
  );
  return `${time.slice(11, 23)} ${level.toUpperCase().padEnd(5)} ${msg}${parts.length ? ` ${parts.join(" ")}` : ""}`;
}

function appendFile(sink: Sink, line: string): void {
  if (!sink.file) return;
  const now = Date.now();
  if (sink.broken && now < sink.broken.retryAt) {
    sink.broken.lost++;
    return;
  }
  try {
    const size = statSync(sink.file, { throwIfNoEntry: false })?.size ?? 0;
    if (size + line.length > sink.maxFileBytes) renameSync(sink.file, `${sink.file}.1`);
    if (sink.broken) {
      const { lost } = sink.broken;
      const notice = JSON.stringify({
        time: new Date(now).toISOString(),
        level: "warn",
        msg: "log file writable again",
        lost,
      });
      appendFileSync(sink.file, `${notice}\n`, { mode: 0o600 });
      sink.broken = undefined;
      sink.write?.(`log file ${sink.file} is writable again; ${lost} lines went to the console only`);
    }
    appendFileSync(sink.file, `${line}\n`, { mode: 0o600 });
  } catch (e) {
    // A full or read-only disk must not take the server down: keep serving, say so once per outage.
    if (!sink.broken) {
      sink.write?.(
        `log file ${sink.file} is not writable (${(e as Error).message}); logging to the console only`,
      );
    }
    sink.broken = {
      retryAt: now + sink.fileRetryMs,
      lost: (sink.broken?.lost ?? 0) + 1,
    };
  }
}

function emit(sink: Sink, base: Fields, level: Level, msg: string, fields: Fields | undefined): void {
  if (RANK[level] < sink.level) return;
  const time = new Date().toISOString();
  const all = sink.redactor.value({ ...base, ...fields }) as Fields;
  const clean = sink.redactor.text(msg);
  const json = JSON.stringify({ time, level, msg: clean, ...all });
  appendFile(sink, json);
  if (!sink.write) return;
  sink.write(sink.format === "json" ? json : textLine(time, level, clean, all));
}

function make(sink: Sink, base: Fields): Logger {
  return {
    debug: (msg, fields) => emit(sink, base, "debug", msg, fields),
    info: (msg, fields) => emit(sink, base, "info", msg, fields),
    warn: (msg, fields) => emit(sink, base, "warn", msg, fields),
    error: (msg, fields) => emit(sink, base, "error", msg, fields),
    child: (fields) => make(sink, { ...base, ...fields }),
    redactor: sink.redactor,
  };
}

export function createLogger(opts: LogOptions = {}): Logger {
  if (opts.file) mkdirSync(dirname(opts.file), { recursive: true, mode: 0o700 });
  const sink: Sink = {
    level: RANK[opts.level ?? "info"],
    format: opts.format ?? "text",
    file: opts.file,
    maxFileBytes: opts.maxFileBytes ?? 10 * 1024 * 1024,
    fileRetryMs: opts.fileRetryMs ?? 30_000,
    broken: undefined,
    write: opts.write === undefined ? stderr : opts.write,
    redactor: opts.redactor ?? new Redactor(),
  };
  return make(sink, {});
}

/** A logger that drops everything; for tools and tests that do not care. */
export const silent: Logger = createLogger({ write: null });
