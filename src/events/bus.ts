import { newId } from "../util/ids.ts";

/** Every kind of event Catwalk records; the dotted prefix names the domain. */
export type EventType =
  | "deployment.created"
  | "deployment.updated"
  | "deployment.removed"
  | "deployment.state"
  | "deployment.desired"
  | "deployment.runtime_error"
  | "token.created"
  | "token.revoked"
  | "token.rotated"
  | "credentials.updated"
  | "session.opened"
  | "session.closed"
  | "mcp.call"
  | "keys.rotated"
  | `oauth.${string}`;

export interface CatwalkEvent {
  id: string;
  time: string;
  type: EventType;
  deploymentId: string | null;
  data: Record<string, unknown>;
}

export type Listener = (event: CatwalkEvent) => void;

/**
 * In-process publish/subscribe for events. Listeners run synchronously and must not throw into
 * the publisher (a failing listener is isolated); slow work belongs behind a queue.
 */
export class Bus {
  private readonly listeners = new Set<Listener>();

  publish(type: EventType, deploymentId: string | null, data: Record<string, unknown> = {}): CatwalkEvent {
    const event: CatwalkEvent = {
      id: newId("evt"),
      time: new Date().toISOString(),
      type,
      deploymentId,
      data,
    };
    for (const fn of this.listeners) {
      try {
        fn(event);
      } catch {
        // one listener's failure must not stop the others or the publisher
      }
    }
    return event;
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get size(): number {
    return this.listeners.size;
  }
}
