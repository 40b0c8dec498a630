/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance) against a deployment
 * behind the gateway, for every scenario that server-everything (the upstream) can satisfy: both
 * protocol eras, header validation, caching hints, DNS-rebinding protection. A small proxy adds
 * the deployment's bearer token (the suite cannot send one) and keeps Host and Origin pointing at
 * the server, so Origin checks are judged as a client on this host would see them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { EVERYTHING_BIN } from "../helpers/everything.ts";
import { type Deployed, deploy } from "../helpers/mcp.ts";
import { startTestServer, type TestServer, tempDir } from "../helpers/server.ts";

const ROOT = join(import.meta.dir, "..", "..");
const CLI = join(ROOT, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js");
const BASELINE = join(ROOT, "test", "fixtures", "conformance-baseline.yml");

const SCENARIOS = [
  "server-initialize",
  "server-session-lifecycle",
  "ping",
  "logging-set-level",
  "tools-list",
  "resources-list",
  "resources-subscribe",
  "prompts-list",
  "server-sse-multiple-streams",
  "server-stateless",
  "http-header-validation",
  "caching",
  "sep-2164-resource-not-found",
  "dns-rebinding-protection",
];

let srv: TestServer;
let dep: Deployed;
let proxy: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  srv = await startTestServer({ env: { CATWALK_LOCAL_ALLOW_COMMANDS: "true" } });
  dep = await deploy(srv, {
    command: ["node", EVERYTHING_BIN, "stdio"],
    name: "conformance",
    sessionMode: "shared",
  });
  const server = new URL(srv.url);
  proxy = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const headers = new Headers(req.headers);
      headers.set("authorization", `Bearer ${dep.token}`);
      headers.delete("host");
      const origin = headers.get("origin");
      if (origin && new URL(origin).port === String(proxy.port)) {
        const o = new URL(origin);
        o.port = server.port;
        headers.set("origin", o.origin);
      }
      const body = req.method === "GET" || req.method === "DELETE" ? null : await req.arrayBuffer();
      const res = await fetch(`${srv.url}${url.pathname}${url.search}`, {
        method: req.method,
        headers,
        body,
      });
      return new Response(res.body, { status: res.status, headers: res.headers });
    },
  });
}, 60_000);
afterAll(async () => {
  proxy.stop(true);
  await srv.close();
});

describe("official MCP conformance suite through the gateway", () => {
  for (const scenario of SCENARIOS) {
    test(`${scenario} passes`, async () => {
      const url = `http://localhost:${proxy.port}/mcp/${dep.slug}`;
      const run = Bun.spawn(
        [
          process.execPath,
          CLI,
          "server",
          "--url",
          url,
          "--scenario",
          scenario,
          "--expected-failures",
          BASELINE,
          "-o",
          tempDir("catwalk-conf-"),
        ],
        {
          stdout: "pipe",
          stderr: "pipe",
        },
      );
      const [out, err, code] = await Promise.all([
        new Response(run.stdout).text(),
        new Response(run.stderr).text(),
        run.exited,
      ]);
      const failures = out.split("\n").filter((l) => /FAILURE|Unexpected|stale|regression/i.test(l));
      expect({ scenario, code, failures, err: err.slice(0, 500) }).toEqual({
        scenario,
        code: 0,
        failures: code === 0 ? failures : [],
        err: err.slice(0, 500),
      });
    }, 60_000);
  }
});
