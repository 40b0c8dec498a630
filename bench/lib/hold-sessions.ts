/**
 * Opens N MCP sessions against an endpoint and keeps each one's GET stream open, as idle clients
 * do, until stdin closes. Prints `ready <n>` when all are open. Run with
 * BUN_CONFIG_MAX_HTTP_REQUESTS raised: each held stream is one concurrent request.
 * `bun bench/lib/hold-sessions.ts <url> <token> <count>`
 */
const [url, token, countText] = process.argv.slice(2) as [string, string, string];
const count = Number(countText);
const headers = {
  authorization: `Bearer ${token}`,
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
};
const controllers: AbortController[] = [];
const sessions: string[] = [];

async function open(i: number): Promise<void> {
  const init = await fetch(url, {
    method: "POST",
    headers,
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-11-25",
        capabilities: {},
        clientInfo: { name: `idle-${i}`, version: "1" },
      },
    }),
  });
  const session = init.headers.get("mcp-session-id");
  await init.text();
  if (!session) throw new Error(`initialize ${i} failed: ${init.status}`);
  sessions.push(session);
  const h = { ...headers, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" };
  await (
    await fetch(url, {
      method: "POST",
      headers: h,
      body: '{"jsonrpc":"2.0","method":"notifications/initialized"}',
    })
  ).text();
  const abort = new AbortController();
  controllers.push(abort);
  const stream = await fetch(url, { headers: { ...h, accept: "text/event-stream" }, signal: abort.signal });
  stream.body
    ?.getReader()
    .read()
    .catch(() => {});
}

for (let i = 0; i < count; i += 50) {
  await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, j) => open(i + j)));
}
console.log(`ready ${count}`);
for await (const _ of Bun.stdin.stream()) {
  // hold until stdin closes
}
for (const c of controllers) c.abort();
for (let i = 0; i < sessions.length; i += 50) {
  await Promise.all(
    sessions.slice(i, i + 50).map((id) =>
      fetch(url, {
        method: "DELETE",
        headers: { authorization: headers.authorization, "mcp-session-id": id },
      }).then((r) => r.text()),
    ),
  );
}
process.exit(0);

export {};
