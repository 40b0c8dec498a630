import { SseConnection } from "../proxy/stream.ts";

export interface SseItem {
  id?: string;
  event?: string;
  data: unknown;
}

/**
 * An SSE response that sends `history` first, then whatever `subscribe` delivers, until the
 * client goes away or `send` is told to end. Used by the log, event and analysis streams.
 */
export function followSse(
  request: Request,
  history: readonly SseItem[],
  subscribe: (send: (item: SseItem) => void, end: () => void) => () => void,
): Response {
  let unsubscribe = () => {};
  const conn = new SseConnection({
    keepAliveMs: 15_000,
    headers: {},
    signal: request.signal,
    onClose: () => unsubscribe(),
  });
  const send = (item: SseItem) => conn.event(item.id, JSON.stringify(item.data), item.event);
  for (const item of history) send(item);
  unsubscribe = subscribe(send, () => conn.close());
  if (conn.closed) unsubscribe();
  return conn.response;
}
