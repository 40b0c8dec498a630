import { type ChildProcess, spawn } from "node:child_process";
import { basename } from "node:path";
import { type JsonRpcMessage, kindOf } from "../../mcp/jsonrpc.ts";
import { HandlerSlot } from "../channel.ts";
import type { Channel, ChannelHandlers, CloseReason } from "../types.ts";
import { LineSplitter } from "./lines.ts";
import { groupRunning, signalGroup, waitFor } from "./proc.ts";

/** What to execute: an absolute command, its arguments, the complete environment and a cwd. */
export interface ChildCommand {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

export interface ChildOptions {
  /** One line the child wrote to stderr. */
  stderr(line: string): void;
  /** A note about the child's output (skipped non-JSON stdout lines); rate-limited here. */
  notice(line: string): void;
  /** Longest stdout line (one JSON-RPC message) accepted; a longer one kills the child. */
  maxLineBytes?: number;
  /** Time a child gets to exit after its stdin closed, before SIGTERM (MCP stdio shutdown). */
  stdinGraceMs?: number;
  /** Time after SIGTERM before SIGKILL. */
  termGraceMs?: number;
}

const STDERR_TAIL = 50;
const STDERR_LINE_BYTES = 8 * 1024;
const NOTICE_WINDOW_MS = 10_000;
const NOTICES_PER_WINDOW = 10;
/** After the leader exited: how long stragglers of its group get after SIGTERM, and stdio to drain. */
const SWEEP_MS = 250;

/**
 * One MCP server child process: the leader of its own process group, speaking newline-delimited
 * JSON-RPC on stdin/stdout. It is the raw `Channel` a handshake starts from; `exited` resolves
 * (never rejects) once the leader exited and its group was swept.
 */
export class LocalChild implements Channel {
  readonly pid: number | undefined;
  readonly startedAt = Date.now();
  readonly exited: Promise<CloseReason>;
  readonly description: string;

  private readonly slot = new HandlerSlot();
  private readonly proc: ChildProcess | undefined;
  private readonly out: LineSplitter;
  private readonly err = new LineSplitter(STDERR_LINE_BYTES);
  private readonly tail: string[] = [];
  private resolveExited: (reason: CloseReason) => void = () => {};
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private spawnError: Error | undefined;
  private killReason: string | undefined;
  private closing: Promise<void> | undefined;
  private finished = false;
  private notices = { windowStart: 0, count: 0, suppressed: 0 };

  constructor(
    private readonly cmd: ChildCommand,
    private readonly opts: ChildOptions,
  ) {
    this.exited = new Promise((resolve) => {
      this.resolveExited = resolve;
    });
    this.out = new LineSplitter(opts.maxLineBytes ?? 32 * 1024 * 1024);
    try {
      this.proc = spawn(cmd.command, cmd.args, {
        cwd: cmd.cwd,
        env: cmd.env,
        stdio: ["pipe", "pipe", "pipe"],
        detached: true,
      });
    } catch (e) {
      this.spawnError = e instanceof Error ? e : new Error(String(e));
    }
    this.pid = this.proc?.pid;
    this.description = this.pid ? `pid ${this.pid}` : `${basename(cmd.command)} (not started)`;
    if (!this.proc) {
      queueMicrotask(() => this.finish());
      return;
    }
    this.wire(this.proc);
  }

  get closed(): boolean {
    return this.finished || this.closing !== undefined;
  }

  get alive(): boolean {
    return this.pid !== undefined && !this.exit && !this.finished;
  }

  /** The last stderr lines, oldest first. */
  stderrTail(): string[] {
    return [...this.tail];
  }

  send(message: JsonRpcMessage): void {
    const stdin = this.proc?.stdin;
    if (this.closed || !stdin || stdin.destroyed || !stdin.writable) return;
    stdin.write(`${JSON.stringify(message)}\n`);
  }

  setHandlers(handlers: ChannelHandlers): void {
    this.slot.set(handlers);
  }

  /** MCP stdio shutdown: close stdin, then SIGTERM the group, then SIGKILL it. Idempotent. */
  close(reason?: string): Promise<void> {
    if (reason !== undefined && !this.closing && !this.finished) this.killReason ??= reason;
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private wire(proc: ChildProcess): void {
    // Writes after the child died fail with EPIPE on the stream; the exit is reported via close.
    proc.stdin?.on("error", () => {});
    proc.stdout?.on("data", (chunk: Buffer) => this.onStdout(chunk));
    proc.stderr?.on("data", (chunk: Buffer) => this.onStderr(chunk));
    proc.on("error", (e) => {
      this.spawnError ??= e;
      if (this.pid === undefined) this.finish();
    });
    proc.on("exit", (code, signal) => {
      this.exit = { code, signal };
      void this.sweep();
    });
  }

  private onStdout(chunk: Buffer): void {
    if (this.finished || this.killReason) return;
    if (this.out.push(chunk, (line) => this.onLine(line))) return;
    this.out.clear();
    const limit = this.opts.maxLineBytes ?? 32 * 1024 * 1024;
    this.killReason = `wrote a stdout line longer than ${limit} bytes without a newline; killed`;
    this.opts.notice(`${this.description} ${this.killReason}`);
    void this.close();
  }

  private onLine(line: string): void {
    if (line.trim() === "") return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      this.skip(line);
      return;
    }
    const items = Array.isArray(parsed) ? parsed : [parsed];
    for (const item of items) {
      if (kindOf(item) === "invalid") this.skip(line);
      else this.slot.message(item as JsonRpcMessage);
    }
  }

  private skip(line: string): void {
    const n = this.notices;
    const now = Date.now();
    if (now - n.windowStart >= NOTICE_WINDOW_MS) {
      if (n.suppressed > 0) this.opts.notice(`${n.suppressed} more non-JSON-RPC stdout lines skipped`);
      this.notices = { windowStart: now, count: 0, suppressed: 0 };
    }
    if (this.notices.count++ >= NOTICES_PER_WINDOW) {
      this.notices.suppressed++;
      return;
    }
    const shown = line.length > 200 ? `${line.slice(0, 200)}…` : line;
    this.opts.notice(`skipped a stdout line that is not JSON-RPC: ${shown}`);
  }

  private onStderr(chunk: Buffer): void {
    const ok = this.err.push(chunk, (line) => this.stderrLine(line));
    if (!ok) {
      const cut = this.err.take();
      if (cut !== undefined) this.stderrLine(`${cut}…`);
    }
  }

  private stderrLine(line: string): void {
    this.tail.push(line);
    if (this.tail.length > STDERR_TAIL) this.tail.shift();
    this.opts.stderr(line);
  }

  private async shutdown(): Promise<void> {
    const pid = this.pid;
    if (pid !== undefined && !this.exit) {
      this.proc?.stdin?.end();
      const exited = () => this.exit !== undefined;
      if (!(await waitFor(exited, this.opts.stdinGraceMs ?? 500))) {
        signalGroup(pid, "SIGTERM");
        if (!(await waitFor(exited, this.opts.termGraceMs ?? 3000))) {
          signalGroup(pid, "SIGKILL");
          await waitFor(exited, 5000);
        }
      }
    }
    await this.exited;
  }

  /** The leader exited: stop what is left of its group, let stdio drain, then report. */
  private async sweep(): Promise<void> {
    const pid = this.pid as number;
    if (groupRunning(pid)) {
      signalGroup(pid, "SIGTERM");
      await waitFor(() => !groupRunning(pid), SWEEP_MS, 25);
      if (groupRunning(pid)) {
        signalGroup(pid, "SIGKILL");
        await waitFor(() => !groupRunning(pid), 2000, 25);
      }
    }
    await waitFor(() => this.proc?.stdout?.readableEnded !== false, SWEEP_MS, 10);
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    const rest = this.err.take();
    if (rest !== undefined) this.stderrLine(rest);
    const reason = this.reason();
    this.slot.close(reason);
    this.resolveExited(reason);
  }

  private reason(): CloseReason {
    const stderrTail = this.stderrTail();
    if (this.spawnError) {
      return {
        kind: "error",
        message: `cannot start ${this.cmd.command}: ${this.spawnError.message}`,
        stderrTail,
      };
    }
    const code = this.exit?.code ?? null;
    const signal = this.exit?.signal ?? null;
    const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
    if (this.killReason) return { kind: "error", message: this.killReason, code, signal, stderrTail };
    if (this.closing)
      return { kind: "closed", message: `closed by catwalk (${how})`, code, signal, stderrTail };
    return { kind: "exited", message: how, code, signal, stderrTail };
  }
}

export function spawnChild(cmd: ChildCommand, opts: ChildOptions): LocalChild {
  return new LocalChild(cmd, opts);
}
