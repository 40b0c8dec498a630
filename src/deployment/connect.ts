import { z } from "zod";

export const ConnectInfo = z.object({
  url: z.string(),
  token: z.string().describe("the token in the snippets, or the placeholder <TOKEN>"),
  claudeDesktop: z.object({
    file: z.string().describe("where the entry goes"),
    config: z.record(z.string(), z.unknown()).describe("merge into claude_desktop_config.json"),
  }),
  claudeCode: z.string().describe("shell command"),
  curl: z.string().describe("initialize request with curl"),
});
export type ConnectInfo = z.infer<typeof ConnectInfo>;

export const PLACEHOLDER = "<TOKEN>";

/** Single-quotes a value for POSIX shells. */
function sq(value: string): string {
  return `'${value.replaceAll("'", `'"'"'`)}'`;
}

/**
 * Ready-to-paste client configuration. Claude Desktop reaches remote servers through `mcp-remote`
 * (a stdio shim); the header value goes through an env variable and has no space in the argument,
 * as mcp-remote recommends, so it survives Windows and shell quoting.
 */
export function connectSnippets(slug: string, url: string, token = PLACEHOLDER): ConnectInfo {
  const initialize = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "curl", version: "1" } },
  });
  return {
    url,
    token,
    claudeDesktop: {
      file: "macOS: ~/Library/Application Support/Claude/claude_desktop_config.json · Windows: %APPDATA%\\Claude\\claude_desktop_config.json",
      config: {
        mcpServers: {
          [slug]: {
            command: "npx",
            // biome-ignore lint/suspicious/noTemplateCurlyInString: mcp-remote expands ${VAR} from env itself.
            args: ["-y", "mcp-remote", url, "--header", "Authorization:${CATWALK_AUTH}"],
            env: { CATWALK_AUTH: `Bearer ${token}` },
          },
        },
      },
    },
    claudeCode: `claude mcp add --transport http ${slug} ${url} --header ${sq(`Authorization: Bearer ${token}`)}`,
    curl: [
      `curl -sS -X POST ${url}`,
      `  -H ${sq(`Authorization: Bearer ${token}`)}`,
      "  -H 'Content-Type: application/json'",
      "  -H 'Accept: application/json, text/event-stream'",
      `  -d ${sq(initialize)}`,
    ].join(" \\\n"),
  };
}
