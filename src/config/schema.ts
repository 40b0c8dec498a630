import { z } from "zod";

/**
 * The one configuration schema. Every key is documented with `.describe()`; the README table and
 * `catwalk config schema` are produced from it. Environment names are derived from the key path:
 * `fly.apiUrl` is `CATWALK_FLY_API_URL`. Precedence: defaults < config file < env < flags.
 */
const port = z.number().int().min(0).max(65535);
const ms = z.number().int().min(0);
const url = z.url({ protocol: /^https?$/ });

export const ConfigSchema = z.strictObject({
  host: z
    .string()
    .min(1)
    .default("127.0.0.1")
    .describe("Interface the server binds. Anything other than loopback exposes the API and gateway."),
  port: port.default(7400).describe("TCP port of the HTTP API and MCP gateway; 0 picks a free port."),
  dataDir: z
    .string()
    .min(1)
    .optional()
    .describe("Directory for the database, master key, admin token, package cache and logs."),
  publicUrl: url
    .optional()
    .describe(
      "Public base URL when Catwalk runs behind TLS or a reverse proxy; used in endpoint URLs and as the OAuth issuer.",
    ),
  databaseUrl: z
    .string()
    .min(1)
    .optional()
    .describe(
      "libsql server URL (libsql://HOST is TLS like https://; a sqld without TLS is http://HOST:PORT or libsql://HOST:PORT?tls=0) or file: URL; default is <dataDir>/catwalk.db.",
    ),
  databaseAuthToken: z.string().min(1).optional().describe("Auth token for a remote libsql/Turso database."),
  databaseSyncMs: z
    .number()
    .int()
    .min(500)
    .default(5_000)
    .describe(
      "With a remote database shared by several hosts: changes made on another host (deployments, credentials, revoked tokens) reach this one within this time.",
    ),
  databaseBusyTimeoutMs: ms
    .max(60_000)
    .default(5000)
    .describe(
      "How long a write to the embedded database waits for another process's lock; the server waits with it.",
    ),
  masterKey: z
    .string()
    .min(1)
    .optional()
    .describe("Fernet master key(s), comma-separated, newest first; default is <dataDir>/master.key."),
  logLevel: z.enum(["debug", "info", "warn", "error"]).default("info").describe("Least severe level logged."),
  logFormat: z
    .enum(["text", "json"])
    .default("text")
    .describe("Format of log lines on stderr; the log file is always JSON lines."),
  allowedOrigins: z
    .array(z.string().min(1))
    .default([])
    .describe("Browser Origins allowed besides the server's own (comma-separated in env)."),
  runtime: z
    .enum(["local", "fly"])
    .default("local")
    .describe("Runtime of new deployments when none is given."),
  local: z
    .strictObject({
      packageCacheDir: z
        .string()
        .min(1)
        .optional()
        .describe("Cache of installed npm/PyPI packages; default <dataDir>/packages."),
      npmRegistryUrl: url
        .default("https://registry.npmjs.org")
        .describe("npm registry used to resolve and install."),
      npmToken: z
        .string()
        .min(1)
        .optional()
        .describe("Token for a private npm registry (local.npmRegistryUrl), sent as a Bearer token."),
      nodePath: z
        .string()
        .min(1)
        .optional()
        .describe("Node.js executable for npm servers; default: node on PATH."),
      uvxPath: z
        .string()
        .min(1)
        .optional()
        .describe("uvx executable for PyPI servers; default: uvx on PATH."),
      sandbox: z
        .enum(["off", "bwrap"])
        .default("off")
        .describe(
          "bwrap: run each server in bubblewrap, without sight of the data dir (but its home and the package cache) or of catwalk's and other servers' processes.",
        ),
      bwrapPath: z
        .string()
        .min(1)
        .optional()
        .describe("bubblewrap executable for local.sandbox bwrap; default: bwrap on PATH."),
      installTimeoutMs: ms.default(300_000).describe("Limit for installing one package version."),
      startTimeoutMs: ms
        .default(30_000)
        .describe("Limit for a child to answer the MCP initialize handshake."),
      maxChildren: z
        .number()
        .int()
        .min(1)
        .default(32)
        .describe("Dedicated upstreams (children or remote sessions) per deployment."),
      allowCommands: z
        .boolean()
        .default(false)
        .describe("Allow deployments of an arbitrary command (API `command`); it runs as the catwalk user."),
    })
    .prefault({}),
  gateway: z
    .strictObject({
      maxSessions: z.number().int().min(1).default(1000).describe("Open MCP sessions per deployment."),
      sessionIdleTtlMs: ms.default(1_800_000).describe("Idle time after which a session is reaped."),
      requestTimeoutMs: ms.default(300_000).describe("Time a request may wait without progress."),
      pingTimeoutMs: ms
        .default(10_000)
        .describe(
          "After a request times out, time the server has to answer a ping; a silent one is restarted as hung (0: never).",
        ),
      maxBodyBytes: z
        .number()
        .int()
        .min(1024)
        .default(4 * 1024 * 1024)
        .describe("Largest MCP request body accepted."),
      rateLimitPerMinute: z
        .number()
        .int()
        .min(0)
        .default(0)
        .describe(
          "MCP requests per minute each access token (or OAuth client) may send to a deployment; over it: 429 with Retry-After (0: no limit).",
        ),
      rateLimitBurst: z
        .number()
        .int()
        .min(1)
        .default(60)
        .describe("MCP requests a token may send at once before gateway.rateLimitPerMinute paces it."),
      maxJsonDepth: z
        .number()
        .int()
        .min(8)
        .max(10_000)
        .default(128)
        .describe(
          "Deepest JSON nesting accepted in an MCP request; deeper ones get 400 before reaching a server.",
        ),
      keepAliveMs: ms.default(15_000).describe("Interval of SSE keep-alive comments."),
      eventBufferSize: z
        .number()
        .int()
        .min(0)
        .default(1000)
        .describe("SSE events kept per session for Last-Event-ID."),
    })
    .prefault({}),
  oauth: z
    .strictObject({
      enabled: z
        .boolean()
        .default(true)
        .describe("Serve the OAuth 2.1 authorization server for MCP clients (Claude custom connectors)."),
      accessTokenTtlSeconds: z
        .number()
        .int()
        .min(60)
        .max(86_400)
        .default(3600)
        .describe("Lifetime of OAuth access tokens; clients refresh them with their refresh token."),
      refreshTokenTtlSeconds: z
        .number()
        .int()
        .min(3600)
        .default(30 * 86_400)
        .describe("Idle lifetime of a refresh token; each use rotates it and starts a new period."),
      codeTtlSeconds: z
        .number()
        .int()
        .min(10)
        .max(600)
        .default(120)
        .describe("Lifetime of an authorization code between consent and the token request."),
      connectCodeTtlSeconds: z
        .number()
        .int()
        .min(60)
        .max(86_400)
        .default(600)
        .describe("Lifetime of a one-time connect code (`catwalk connect-code`) for the consent page."),
      cimdAllowPrivateAddresses: z
        .boolean()
        .default(false)
        .describe(
          "Let client metadata URLs resolve to private, loopback or link-local addresses (development only).",
        ),
      cimdCacheSeconds: z
        .number()
        .int()
        .min(60)
        .default(3600)
        .describe(
          "Longest time a fetched client metadata document is cached (Cache-Control may shorten it).",
        ),
      cimdMaxBytes: z
        .number()
        .int()
        .min(1024)
        .max(1024 * 1024)
        .default(16_384)
        .describe("Largest client metadata document read; larger ones are refused."),
      cimdTimeoutMs: ms.default(5000).describe("Time limit for fetching one client metadata document."),
      cimdCaFile: z
        .string()
        .min(1)
        .optional()
        .describe("PEM file of extra CA certificates trusted when fetching client metadata documents."),
    })
    .prefault({}),
  github: z
    .strictObject({
      apiUrl: url.default("https://api.github.com").describe("GitHub REST API base URL."),
      token: z.string().min(1).optional().describe("GitHub token for private repos and higher rate limits."),
    })
    .prefault({}),
  anthropic: z
    .strictObject({
      apiKey: z
        .string()
        .min(1)
        .optional()
        .describe("Anthropic API key; without it analysis is deterministic only."),
      baseUrl: url.default("https://api.anthropic.com").describe("Anthropic API base URL."),
      model: z
        .string()
        .min(1)
        .default("claude-sonnet-4-5")
        .describe("Claude model used for repository analysis."),
      timeoutMs: ms
        .default(120_000)
        .describe("Limit for one Claude request (the SDK retries timeouts within maxRetries)."),
      maxRetries: z
        .number()
        .int()
        .min(0)
        .max(5)
        .default(2)
        .describe(
          "SDK retries of one Claude request on 408/409/429/5xx and connection errors (honours retry-after).",
        ),
    })
    .prefault({}),
  pypi: z
    .strictObject({
      url: url.default("https://pypi.org").describe("PyPI base URL (JSON API at /pypi/<name>/json)."),
    })
    .prefault({}),
  analysis: z
    .strictObject({
      httpTimeoutMs: ms
        .default(15_000)
        .describe("Limit for one request to GitHub, npm, PyPI or the MCP registry during analysis."),
      verifyTimeoutMs: ms
        .default(120_000)
        .describe("Limit for verifying a server: install, start, handshake and the list calls."),
    })
    .prefault({}),
  mcpRegistry: z
    .strictObject({
      url: url
        .default("https://registry.modelcontextprotocol.io")
        .describe("Official MCP registry base URL."),
    })
    .prefault({}),
  fly: z
    .strictObject({
      apiUrl: url.default("https://api.machines.dev").describe("Fly Machines API base URL."),
      apiToken: z.string().min(1).optional().describe("Fly API token (org-scoped, to create apps)."),
      org: z.string().min(1).default("personal").describe("Fly organization slug new apps go to."),
      region: z.string().min(1).default("iad").describe("Primary Fly region for new Machines."),
      fallbackRegions: z
        .array(z.string().min(1))
        .default([])
        .describe("Regions tried when the primary has no capacity."),
      image: z
        .string()
        .min(1)
        .optional()
        .describe("Runner image reference; default is the image for this version."),
      appDomain: z.string().min(1).default("fly.dev").describe("Domain under which Fly apps are reached."),
      appScheme: z
        .enum(["https", "http"])
        .default("https")
        .describe("Scheme of app URLs (<scheme>://<app>.<appDomain>/mcp); http only for a local fake proxy."),
      logsApiUrl: url
        .default("https://api.fly.io")
        .describe("Base URL of Fly's log API (/api/v1/apps/<app>/logs)."),
      appPrefix: z
        .string()
        .regex(/^[a-z][a-z0-9-]{0,29}$/)
        .default("catwalk-")
        .describe("Prefix of the Fly app created per deployment; apps with it are Catwalk's (gc)."),
      internalPort: port.min(1).default(8080).describe("Port the runner listens on inside the Machine."),
      guestCpuKind: z.enum(["shared", "performance"]).default("shared").describe("CPU kind of each Machine."),
      guestCpus: z.number().int().min(1).max(16).default(1).describe("CPUs of each Machine."),
      guestMemoryMb: z
        .number()
        .int()
        .min(256)
        .multipleOf(256)
        .default(256)
        .describe("Memory of each Machine in MB (multiple of 256; suspend needs 2048 or less)."),
      autostop: z
        .enum(["off", "stop", "suspend"])
        .default("suspend")
        .describe("What Fly Proxy does with an idle Machine; it starts it again on the next request."),
      maxRestarts: z
        .number()
        .int()
        .min(0)
        .default(10)
        .describe("Restarts Fly attempts after the runner exits with an error (restart policy on-failure)."),
      startTimeoutMs: ms
        .default(180_000)
        .describe("Limit for a new or updated Machine to reach started (image pull and boot)."),
      connectTimeoutMs: ms
        .default(120_000)
        .describe(
          "Limit for opening an MCP session on a Machine, waking it from suspend or a cold boot (package install) included.",
        ),
      logPollMs: ms
        .default(2_000)
        .describe("Interval of polling Fly's log API for each running deployment; 0 turns it off."),
      placementRetryMs: ms
        .default(300_000)
        .describe(
          "After a placement failed for want of capacity or a Fly outage, wait before the reconciler tries again (doubling to 1 h); 0: never.",
        ),
      reconcileMs: ms
        .default(60_000)
        .describe(
          "Least time between two comparisons of the store with the Machines on Fly (drift, missing Machines).",
        ),
    })
    .prefault({}),
});

export type Config = z.infer<typeof ConfigSchema>;
