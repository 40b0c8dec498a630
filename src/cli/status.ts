import type { DeploymentInfo } from "../deployment/deployment.ts";
import { CLIENT_OPTIONS, type Command, JSON_OPTION } from "./command.ts";
import { EXIT } from "./exit.ts";
import { printJson } from "./output.ts";

export const status: Command = {
  name: "status",
  summary: "Is the server up: its address, version, and deployments by state",
  usage: "catwalk status [--json]",
  description:
    "Exits 0 when the server answers and the token works, 6 when it cannot be reached, 4 when the token is refused.",
  options: { ...JSON_OPTION, ...CLIENT_OPTIONS },
  async run(ctx) {
    const client = ctx.client();
    const health = await client.get<{ status: string; version: string }>("/api/health");
    const { deployments } = await client.get<{ deployments: DeploymentInfo[] }>("/api/deployments");
    const server = await client.get<{ database: { location: string; embedded: boolean } }>("/api/server");
    const byState: Record<string, number> = {};
    for (const d of deployments) byState[d.state] = (byState[d.state] ?? 0) + 1;
    const sessions = deployments.reduce((n, d) => n + d.sessions, 0);
    if (ctx.bool("json")) {
      printJson(ctx.io, {
        server: client.target.url,
        ...health,
        deployments: deployments.length,
        byState,
        sessions,
        database: server.database,
      });
      return EXIT.ok;
    }
    const states = Object.entries(byState)
      .map(([s, n]) => `${n} ${s}`)
      .join(", ");
    ctx.io.out(`catwalk ${health.version} at ${client.target.url}: ${health.status}`);
    const count = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
    ctx.io.out(
      `${count(deployments.length, "deployment")}${states ? ` (${states})` : ""}, ${count(sessions, "open session")}`,
    );
    ctx.io.out(
      `database ${server.database.location} (${server.database.embedded ? "embedded" : "remote libsql"})`,
    );
    return EXIT.ok;
  },
};

export const metrics: Command = {
  name: "metrics",
  summary: "Print the server's Prometheus metrics",
  usage: "catwalk metrics",
  options: { ...CLIENT_OPTIONS },
  async run(ctx) {
    const res = await ctx.client().raw("GET", "/metrics", { headers: { accept: "text/plain" } });
    if (!res.ok) await ctx.client().parse(res);
    ctx.io.out((await res.text()).trimEnd());
    return EXIT.ok;
  },
};
