/**
 * Shared machinery of the wire-faithful fakes in this folder: a `Bun.serve` on 127.0.0.1, port 0,
 * that records every request and applies injected faults before the service's own handler.
 *
 *   const fake = await startFake("npm", handler);
 *   fake.fail({ path: "/left-pad", status: 503, times: 1 });   // next matching request answers 503
 *   fake.fail({ path: /trees/, delayMs: 2000 });                 // every tree request is slow
 *   fake.requests                                               // what clients sent
 *   await fake.stop();
 */
export interface RecordedRequest {
  method: string;
  /** Path with the query string, as sent (percent-encoding kept). */
  path: string;
  pathname: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: string;
}

export interface Fault {
  /** Matches the path including the query: a substring or a RegExp. Absent: every request. */
  path?: string | RegExp;
  method?: string;
  /** Answer with this status (and `body`, JSON-encoded unless a string) instead of the real handler. */
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Wait this long before answering (the real handler, or the fault's status). */
  delayMs?: number;
  /** How many requests the fault applies to; default every matching request. */
  times?: number;
}

export type Handler = (req: Request, url: URL, body: string) => Response | Promise<Response>;

export interface Fake {
  readonly name: string;
  readonly url: string;
  readonly requests: RecordedRequest[];
  fail(fault: Fault): void;
  clearFaults(): void;
  stop(): Promise<void>;
}

function matches(f: Fault, method: string, path: string): boolean {
  if (f.method && f.method.toUpperCase() !== method) return false;
  if (f.path === undefined) return true;
  return typeof f.path === "string" ? path.includes(f.path) : f.path.test(path);
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

export async function startFake(name: string, handler: Handler): Promise<Fake> {
  const requests: RecordedRequest[] = [];
  let faults: (Fault & { left: number })[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 60,
    async fetch(req) {
      const url = new URL(req.url);
      const rawPath = req.url.slice(req.url.indexOf("/", "http://".length));
      const body = req.method === "GET" || req.method === "HEAD" ? "" : await req.text();
      requests.push({
        method: req.method,
        path: rawPath,
        pathname: url.pathname,
        query: url.searchParams,
        headers: Object.fromEntries(req.headers),
        body,
      });
      const fault = faults.find((f) => f.left > 0 && matches(f, req.method, rawPath));
      if (fault) {
        fault.left -= 1;
        if (fault.delayMs) await Bun.sleep(fault.delayMs);
        if (fault.status !== undefined) {
          const text = typeof fault.body === "string" ? fault.body : JSON.stringify(fault.body ?? {});
          return new Response(text, {
            status: fault.status,
            headers: { "content-type": "application/json", ...fault.headers },
          });
        }
      }
      return handler(req, url, body);
    },
  });
  return {
    name,
    url: `http://127.0.0.1:${server.port}`,
    requests,
    fail: (fault) => faults.push({ ...fault, left: fault.times ?? Number.POSITIVE_INFINITY }),
    clearFaults: () => {
      faults = [];
    },
    stop: () => server.stop(true),
  };
}
