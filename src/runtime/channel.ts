import type { JsonRpcMessage } from "../mcp/jsonrpc.ts";
import type { Channel, ChannelHandlers, CloseReason } from "./types.ts";

/**
 * Holds a channel's current handlers and queues what arrives while there are none, so a channel
 * can be handed from spawner to handshake to gateway session without dropping messages. Every
 * `Channel` implementation delivers through one of these.
 */
export class HandlerSlot {
  private handlers: ChannelHandlers | undefined;
  private queue: JsonRpcMessage[] = [];
  private closedWith: CloseReason | undefined;

  set(handlers: ChannelHandlers | undefined): void {
    this.handlers = handlers;
    if (!handlers) return;
    while (this.queue.length > 0 && this.handlers === handlers) {
      handlers.message(this.queue.shift() as JsonRpcMessage);
    }
    if (this.closedWith && this.handlers === handlers) handlers.close(this.closedWith);
  }

  message(message: JsonRpcMessage): void {
    if (this.closedWith) return;
    if (this.handlers) this.handlers.message(message);
    else this.queue.push(message);
  }

  close(reason: CloseReason): void {
    if (this.closedWith) return;
    this.closedWith = reason;
    this.handlers?.close(reason);
  }

  get closeReason(): CloseReason | undefined {
    return this.closedWith;
  }
}

/**
 * A channel that forwards to another but has its own handler slot, used to take a channel over
 * from its previous owner; `backlog` holds messages that owner received but did not consume.
 */
export class DetachedChannel implements Channel {
  private readonly slot = new HandlerSlot();

  constructor(
    private readonly inner: Channel,
    backlog: readonly JsonRpcMessage[] = [],
  ) {
    for (const m of backlog) this.slot.message(m);
    inner.setHandlers({ message: (m) => this.slot.message(m), close: (r) => this.slot.close(r) });
  }

  send(message: JsonRpcMessage): void {
    this.inner.send(message);
  }

  setHandlers(handlers: ChannelHandlers): void {
    this.slot.set(handlers);
  }

  close(reason?: string): Promise<void> {
    return this.inner.close(reason);
  }

  get closed(): boolean {
    return this.inner.closed;
  }

  get description(): string {
    return this.inner.description;
  }
}
