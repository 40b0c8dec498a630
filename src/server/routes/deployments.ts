import { Elysia } from "elysia";
import { z } from "zod";
import type { Services } from "../../app/services.ts";
import { ConnectInfo, connectSnippets } from "../../deployment/connect.ts";
import {
  CreateInput,
  DeploymentInfo,
  EnvInput,
  TokenInfo,
  tokenInfo,
  UpdateInput,
} from "../../deployment/deployment.ts";
import type { LogLine } from "../../logs/logs.ts";
import { DeploymentStats } from "../../stats/stats.ts";
import { InvalidInputError } from "../../util/error.ts";
import { followSse } from "../sse.ts";

const Created = DeploymentInfo.extend({
  token: z.string().describe("access token for the endpoint; shown only now"),
});
const Ref = z.object({ id: z.string().describe("deployment id (dep_…) or slug") });
const TokenRef = Ref.extend({ token: z.string().describe("token id (tok_…) or name") });
const NewToken = TokenInfo.extend({ token: z.string().describe("the token; shown only now") });
const LogLineSchema = z.object({
  id: z.number().int(),
  time: z.string(),
  stream: z.enum(["stderr", "lifecycle"]),
  line: z.string(),
});
const LogQuery = z.object({
  tail: z.coerce.number().int().min(0).max(10_000).default(200),
  since: z.string().optional().describe("ISO time or a duration like 10m, 2h, 1d"),
  follow: z.enum(["true", "false", "1", "0"]).optional().describe("stream new lines as SSE"),
});

const tags = ["deployments"];

/** `10m`, `2h`, `1d`, or an ISO timestamp. */
export function parseSince(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const rel = /^(\d+)(s|m|h|d)$/.exec(value);
  if (rel) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as "s" | "m" | "h" | "d"];
    return new Date(Date.now() - Number(rel[1]) * unit);
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) {
    throw new InvalidInputError(`since=${JSON.stringify(value)} is neither a time nor a duration.`, {
      hint: "Use an ISO time or 30s, 10m, 2h, 1d.",
    });
  }
  return new Date(t);
}

function followLogs(
  services: Services,
  deploymentId: string,
  backlog: LogLine[],
  request: Request,
): Response {
  return followSse(
    request,
    backlog.map((data) => ({ data })),
    (send) => services.logs.subscribe((id, line) => id === deploymentId && send({ data: line })),
  );
}

/** Deployments and everything hanging off them. Handlers only validate and call the manager. */
export function deploymentRoutes(services: Services) {
  const { manager } = services;
  return new Elysia({ name: "routes.deployments", prefix: "/api/deployments" })
    .post(
      "",
      async ({ body, status }) => {
        const { info, token } = await manager.create(body);
        return status(201, { ...info, token });
      },
      {
        body: CreateInput,
        response: { 201: Created },
        detail: { operationId: "deployments.create", summary: "Deploy a server", tags },
      },
    )
    .get("", async () => ({ deployments: await manager.list() }), {
      response: { 200: z.object({ deployments: z.array(DeploymentInfo) }) },
      detail: { operationId: "deployments.list", summary: "List deployments", tags },
    })
    .get("/:id", ({ params }) => manager.get(params.id), {
      params: Ref,
      response: { 200: DeploymentInfo },
      detail: { operationId: "deployments.get", summary: "Show a deployment", tags },
    })
    .patch("/:id", ({ params, body }) => manager.update(params.id, body), {
      params: Ref,
      body: UpdateInput,
      response: { 200: DeploymentInfo },
      detail: {
        operationId: "deployments.update",
        summary: "Change version, arguments or session mode (restarts it)",
        tags,
      },
    })
    .delete("/:id", ({ params }) => manager.remove(params.id), {
      params: Ref,
      response: { 200: DeploymentInfo },
      detail: {
        operationId: "deployments.delete",
        summary: "Remove a deployment, its credentials, tokens and runtime resources",
        tags,
      },
    })
    .post("/:id/start", ({ params }) => manager.start(params.id), {
      params: Ref,
      response: { 200: DeploymentInfo },
      detail: { operationId: "deployments.start", summary: "Set the desired state to running", tags },
    })
    .post("/:id/stop", ({ params }) => manager.stop(params.id), {
      params: Ref,
      response: { 200: DeploymentInfo },
      detail: {
        operationId: "deployments.stop",
        summary: "Set the desired state to stopped (ends its sessions)",
        tags,
      },
    })
    .post("/:id/restart", ({ params }) => manager.restart(params.id), {
      params: Ref,
      response: { 200: DeploymentInfo },
      detail: {
        operationId: "deployments.restart",
        summary: "Restart its servers, a Fly deployment's Machine too (ends its sessions)",
        tags,
      },
    })
    .post("/:id/env", ({ params, body }) => manager.setEnv(params.id, body), {
      params: Ref,
      body: EnvInput,
      response: { 200: DeploymentInfo },
      detail: {
        operationId: "deployments.env",
        summary: "Set or unset credentials (write-only; restarts it)",
        tags,
      },
    })
    .get(
      "/:id/tokens",
      async ({ params }) => ({ tokens: (await manager.tokens(params.id)).map(tokenInfo) }),
      {
        params: Ref,
        response: { 200: z.object({ tokens: z.array(TokenInfo) }) },
        detail: {
          operationId: "tokens.list",
          summary: "List access tokens (never their values)",
          tags: ["tokens"],
        },
      },
    )
    .post(
      "/:id/tokens",
      async ({ params, body, status }) => {
        const { row, token } = await manager.createToken(params.id, body.name);
        return status(201, { ...tokenInfo(row), token });
      },
      {
        params: Ref,
        body: z.object({
          name: z
            .string()
            .min(1)
            .max(64)
            // Not only dots: `.` and `..` in /tokens/<name> URLs are resolved away by every HTTP client.
            .regex(/^(?!\.+$)[\w.@-]+$/, "letters, digits, . _ - @ (not only dots)"),
        }),
        response: { 201: NewToken },
        detail: {
          operationId: "tokens.create",
          summary: "Create an access token (shown once)",
          tags: ["tokens"],
        },
      },
    )
    .delete(
      "/:id/tokens/:token",
      async ({ params }) => tokenInfo(await manager.revokeToken(params.id, params.token)),
      {
        params: TokenRef,
        response: { 200: TokenInfo },
        detail: {
          operationId: "tokens.revoke",
          summary: "Revoke a token; its sessions end",
          tags: ["tokens"],
        },
      },
    )
    .post(
      "/:id/tokens/:token/rotate",
      async ({ params, status }) => {
        const { row, token } = await manager.rotateToken(params.id, params.token);
        return status(201, { ...tokenInfo(row), token });
      },
      {
        params: TokenRef,
        response: { 201: NewToken },
        detail: {
          operationId: "tokens.rotate",
          summary: "Replace a token with a new one of the same name",
          tags: ["tokens"],
        },
      },
    )
    .get(
      "/:id/connect",
      async ({ params }) => {
        const info = await manager.get(params.id);
        return connectSnippets(info.slug, info.url);
      },
      {
        params: Ref,
        response: { 200: ConnectInfo },
        detail: {
          operationId: "deployments.connect",
          summary: "Client configuration snippets (token placeholder)",
          tags,
        },
      },
    )
    .get(
      "/:id/logs",
      async ({ params, query, request }) => {
        const row = await manager.row(params.id);
        const lines = await services.logs.read(row.id, query.tail, parseSince(query.since));
        const follow =
          query.follow === "true" ||
          query.follow === "1" ||
          (request.headers.get("accept") ?? "").includes("text/event-stream");
        if (follow) return followLogs(services, row.id, lines, request);
        return { lines };
      },
      {
        params: Ref,
        query: LogQuery,
        // Not a typed `response`: with follow the answer is an SSE stream of the same line objects.
        detail: {
          operationId: "deployments.logs",
          summary: "Log lines (tail, since; follow streams SSE)",
          tags,
          responses: {
            200: {
              description: "`{lines}` as JSON, or with follow an SSE stream of line objects",
              content: {
                "application/json": {
                  schema: z.toJSONSchema(z.object({ lines: z.array(LogLineSchema) })) as object,
                },
              },
            },
          },
        },
      },
    )
    .get(
      "/:id/stats",
      async ({ params }) => {
        const row = await manager.row(params.id);
        return services.stats.get(row.id, services.gateway.sessionCount(row.id));
      },
      {
        params: Ref,
        response: { 200: DeploymentStats },
        detail: { operationId: "deployments.stats", summary: "Counters since server start", tags },
      },
    );
}
