import type { JsonRpcMessage } from "../mcp/jsonrpc.ts";

const encoder = new TextEncoder();

export interface SseOptions {
  keepAliveMs: number;
  headers: Record<string, string>;
  /** Called once when the client goes away or the stream is closed by us. */
  onClose?: () => void;
  signal?: AbortSignal;
}

/**
 * One open `text/event-stream` HTTP response. Writes are immediate (no buffering in the gateway),
 * comment lines keep idle connections and intermediaries alive, and a failed write or an aborted
 * request closes it exactly once.
 */
export class SseConnection {
  readonly response: Response;
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private closedFlag = false;

  constructor(private readonly opts: SseOptions) {
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
      },
      cancel: () => this.close(false),
    });
    this.response = new Response(stream, {
      status: 200,
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-cache, no-transform",
        connection: "keep-alive",
        "x-accel-buffering": "no",
        ...opts.headers,
      },
    });
    if (opts.keepAliveMs > 0) this.timer = setInterval(() => this.raw(": keep-alive\n\n"), opts.keepAliveMs);
    opts.signal?.addEventListener("abort", () => this.close(false), { once: true });
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** One event; `name` sets the SSE event type (default `message`). */
  event(id: string | undefined, data: string, name?: string): void {
    const head = `${name ? `event: ${name}\n` : ""}${id === undefined ? "" : `id: ${id}\n`}`;
    this.raw(`${head}data: ${data}\n\n`);
  }

  /** The priming event of 2025-11-25: an id with empty data, so a client can resume from the start. */
  prime(id: string): void {
    this.raw(`id: ${id}\ndata: \n\n`);
  }

  close(graceful = true): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    clearInterval(this.timer);
    if (graceful) {
      try {
        this.controller?.close();
      } catch {
        // already closed by the client
      }
    }
    this.opts.onClose?.();
  }

  private raw(text: string): void {
    if (this.closedFlag || !this.controller) return;
    try {
      this.controller.enqueue(encoder.encode(text));
    } catch {
      this.close(false);
    }
  }
}

interface BufferedEvent {
  seq: number;
  data: string;
}

/** Bytes of events one logical stream keeps for resumption; older events are dropped first. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/**
 * A logical SSE stream of one session: the response stream of one POST, or the standalone GET
 * stream. It outlives HTTP connections: events are kept in a bounded buffer, so a client that lost
 * its connection resumes with `Last-Event-ID` (`<stream>.<seq>`) and gets what it missed, and the
 * standalone stream holds messages while no GET is connected.
 */
export class LogicalStream {
  private seq = 0;
  private buffer: BufferedEvent[] = [];
  private bytes = 0;
  private conn: SseConnection | undefined;
  /** Highest sequence number a connection has been sent; undelivered ones are replayed on attach. */
  private delivered = 0;
  private doneFlag = false;

  constructor(
    readonly id: string,
    private readonly capacity: number,
    private readonly onIdle?: () => void,
  ) {}

  get done(): boolean {
    return this.doneFlag;
  }

  get attached(): boolean {
    return this.conn !== undefined && !this.conn.closed;
  }

  write(message: JsonRpcMessage): void {
    const event: BufferedEvent = { seq: ++this.seq, data: JSON.stringify(message) };
    if (this.capacity > 0) {
      this.buffer.push(event);
      this.bytes += event.data.length;
      while (
        this.buffer.length > this.capacity ||
        (this.bytes > MAX_BUFFERED_BYTES && this.buffer.length > 1)
      ) {
        this.bytes -= (this.buffer.shift() as BufferedEvent).data.length;
      }
    }
    if (this.conn && !this.conn.closed) {
      this.conn.event(`${this.id}.${event.seq}`, event.data);
      this.delivered = event.seq;
    }
  }

  /**
   * Connects an HTTP response. With `after` (from Last-Event-ID) replays the buffered events that
   * follow it; without it replays events no connection has seen yet.
   */
  attach(conn: SseConnection, opts: { after?: number; prime?: boolean } = {}): void {
    if (this.conn && this.conn !== conn && !this.conn.closed) this.conn.close();
    this.conn = conn;
    if (opts.prime) conn.prime(`${this.id}.${this.seq}`);
    const from = opts.after ?? this.delivered;
    for (const e of this.buffer) {
      if (e.seq > from) conn.event(`${this.id}.${e.seq}`, e.data);
    }
    this.delivered = Math.max(this.delivered, this.seq);
    if (this.doneFlag) conn.close();
  }

  detach(conn: SseConnection): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    if (this.doneFlag) this.onIdle?.();
  }

  /** No more events will come; closes the connection, the buffer stays for resumption. */
  finish(): void {
    if (this.doneFlag) return;
    this.doneFlag = true;
    if (this.conn) {
      this.conn.close();
      this.conn = undefined;
    }
    this.onIdle?.();
  }
}

/** Parses `<stream>.<seq>` event ids. */
export function parseEventId(value: string | null): { stream: string; seq: number } | undefined {
  if (!value) return undefined;
  const dot = value.lastIndexOf(".");
  if (dot <= 0) return undefined;
  const seq = Number(value.slice(dot + 1));
  if (!Number.isInteger(seq) || seq < 0) return undefined;
  return { stream: value.slice(0, dot), seq };
}
