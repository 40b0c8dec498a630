/**
 * A scriptable remote MCP server (Streamable HTTP, JSON responses, 2025-06-18) for fault tests:
 * initialize can be held at a gate, tool calls can hang, and every request is counted; the headers
 * of the last initialize are kept. Tools: `echo {text}`.
 */
export interface FakeRemote {
  url: string;
  /** initialize requests received so far. */
  initializes(): number;
  /** Request headers of the latest initialize (lowercase names, as fetch gives them). */
  lastInitializeHeaders(): Record<string, string>;
  /** From now on, initialize requests after the first `pass` ones wait until `open()` is called. */
  gate(pass: number): { open(): void };
  /** Make every tools/call hang (no answer) until `hang(false)`. */
  hang(on: boolean): void;
  stop(): Promise<void>;
}

export function startFakeRemote(): FakeRemote {
  let inits = 0;
  let lastHeaders: Record<string, string> = {};
  let gatePass = Number.POSITIVE_INFINITY;
  let gateOpen: Promise<void> = Promise.resolve();
  let hanging = false;
  let release: () => void = () => {};
  const never = new Set<() => void>();
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    async fetch(req) {
      if (req.method === "GET") return new Response(null, { status: 405 });
      if (req.method === "DELETE") return new Response(null, { status: 200 });
      const msg = (await req.json()) as {
        id?: number | string;
        method?: string;
        params?: Record<string, unknown>;
      };
      if (msg.id === undefined) return new Response(null, { status: 202 });
      const reply = (result: unknown, headers: Record<string, string> = {}) =>
        Response.json({ jsonrpc: "2.0", id: msg.id, result }, { headers });
      if (msg.method === "initialize") {
        inits++;
        lastHeaders = Object.fromEntries(req.headers.entries());
        if (inits > gatePass) await gateOpen;
        return reply(
          {
            protocolVersion: "2025-06-18",
            capabilities: { tools: {} },
            serverInfo: { name: "fake-remote", version: "1.0.0" },
          },
          { "mcp-session-id": crypto.randomUUID() },
        );
      }
      if (msg.method === "tools/call") {
        if (hanging) {
          // Held until the test stops hanging or stops the server; the client sees no answer.
          await new Promise<void>((resolve) => never.add(resolve));
        }
        const args = (msg.params?.arguments ?? {}) as { text?: string };
        return reply({ content: [{ type: "text", text: args.text ?? "" }] });
      }
      if (msg.method === "tools/list") {
        return reply({
          tools: [
            { name: "echo", inputSchema: { type: "object", properties: { text: { type: "string" } } } },
          ],
        });
      }
      return reply({});
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/mcp`,
    initializes: () => inits,
    lastInitializeHeaders: () => lastHeaders,
    gate(pass) {
      gatePass = pass;
      gateOpen = new Promise<void>((resolve) => {
        release = resolve;
      });
      return {
        open: () => {
          gatePass = Number.POSITIVE_INFINITY;
          release();
        },
      };
    },
    hang(on) {
      hanging = on;
      if (!on) {
        for (const r of never) r();
        never.clear();
      }
    },
    stop: async () => {
      release();
      for (const r of never) r();
      await server.stop(true);
    },
  };
}
