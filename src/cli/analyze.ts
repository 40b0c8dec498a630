import type { Evidence, Manifest, StringField } from "../analysis/manifest.ts";
import type { Client } from "../client/client.ts";
import { CLIENT_OPTIONS, type Command, type Context, type Io, JSON_OPTION } from "./command.ts";
import { EXIT, UsageError } from "./exit.ts";
import { printJson } from "./output.ts";

/** What `GET /api/analyses/:id` answers (the fields the CLI shows). */
interface AnalysisView {
  id: string;
  source: string;
  repository: string;
  subdir: string;
  commit: string;
  status: "pending" | "running" | "succeeded" | "failed";
  cached: boolean;
  manifest: Manifest | null;
  warnings: string[];
  error: { code: string; message: string; hint?: string } | null;
}

const STEP_NAMES: Record<string, string> = {
  fetching: "fetching",
  reading: "reading",
  asking_claude: "asking Claude",
  validating: "validating",
  verifying: "verifying",
};

function credentials(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf("=");
    if (eq <= 0)
      throw new UsageError(`--credential ${JSON.stringify(item.split("=")[0])} needs the form NAME=VALUE.`, {
        hint: "Example: --credential API_KEY=sk-…",
      });
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** Follows the SSE progress stream until `done`, printing steps to stderr. */
async function follow(client: Client, id: string, io: Io, quiet: boolean): Promise<void> {
  const res = await client.raw("GET", `/api/analyses/${id}/events`, {
    headers: { accept: "text/event-stream" },
  });
  if (!res.ok || !res.body) return;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buf += value;
    let cut = buf.indexOf("\n\n");
    while (cut >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      cut = buf.indexOf("\n\n");
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event === "done") {
        await reader.cancel().catch(() => {});
        return;
      }
      if (event === "step" && data && !quiet) {
        const s = JSON.parse(data) as { step: string; status: string; message: string };
        io.err(`${(STEP_NAMES[s.step] ?? s.step).padEnd(14)} ${s.status.padEnd(8)} ${s.message}`);
      }
    }
  }
}

function pct(c: number): string {
  return `${Math.round(c * 100)}%`;
}

function where(ev: Evidence[]): string {
  return ev
    .slice(0, 4)
    .map((e) => {
      if (e.kind === "file") return `${e.file}${e.line ? `:${e.line}` : ""}`;
      if (e.kind === "registry") return e.registry;
      return e.kind;
    })
    .join(", ");
}

function fieldLine(io: Io, label: string, f: StringField | undefined, shown?: string): void {
  if (!f || f.value === "") return;
  io.out(`${label.padEnd(12)} ${shown ?? f.value}  [${pct(f.confidence)}; ${where(f.evidence)}]`);
}

export function renderAnalysis(io: Io, a: AnalysisView): void {
  io.out(`Analysis ${a.id}  ${a.status}${a.cached ? " (cached)" : ""}`);
  io.out(`Source       ${a.source}${a.commit ? ` @ ${a.commit.slice(0, 12)}` : ""}`);
  const m = a.manifest;
  if (m) {
    const mode =
      m.analysis.mode === "claude" ? `Claude (${m.analysis.model ?? "?"}) + files` : m.analysis.mode;
    io.out(`Mode         ${mode}`);
    fieldLine(io, "Name", m.name);
    fieldLine(io, "Description", m.description);
    fieldLine(io, "Version", m.version);
    io.out(
      `MCP server   ${m.isMcpServer.value ? "yes" : "no"}  [${pct(m.isMcpServer.confidence)}; ${where(m.isMcpServer.evidence)}]`,
    );
    for (const p of m.packages) {
      const check = p.check
        ? p.check.exists
          ? `exists, provenance ${p.check.provenance}`
          : `NOT VALID: ${p.check.error ?? "?"}`
        : "not checked";
      fieldLine(
        io,
        "Package",
        p.identifier,
        `${p.registryType} ${p.identifier.value}@${p.version.value} (${p.runtimeHint}${p.bin ? `, bin ${p.bin.value}` : ""}; ${check})`,
      );
      const args = p.packageArguments.map((x) =>
        "name" in x.argument
          ? `${x.argument.name}${x.argument.value ? ` ${x.argument.value}` : ""}`
          : (x.argument.value ?? `<${x.argument.valueHint ?? "arg"}>`),
      );
      if (args.length) io.out(`Arguments    ${args.join(" ")}`);
      if (p.environmentVariables.length) io.out("Environment");
      for (const e of p.environmentVariables) {
        const flags = [
          e.isRequired ? "required" : "optional",
          e.isSecret ? "secret" : "",
          e.default !== undefined ? `default ${JSON.stringify(e.default)}` : "",
          e.format !== "string" ? e.format : "",
        ]
          .filter(Boolean)
          .join(", ");
        io.out(
          `  ${e.name}  ${flags}${e.description ? ` — ${e.description}` : ""}  [${pct(e.confidence)}; ${where(e.evidence)}]`,
        );
      }
    }
    for (const r of m.remotes)
      io.out(`Remote       ${r.type} ${r.url}  [${pct(r.confidence)}; ${where(r.evidence)}]`);
    for (const [label, list] of [
      ["Tools", m.tools],
      ["Resources", m.resources],
      ["Prompts", m.prompts],
    ] as const) {
      if (!list.length) continue;
      io.out(label);
      for (const t of list) {
        const state = t.verified ? (t.declared ? "declared+verified" : "verified") : "declared";
        io.out(
          `  ${t.name}${t.uri && t.uri !== t.name ? ` (${t.uri})` : ""}  ${state}${t.description ? ` — ${t.description}` : ""}  [${pct(t.confidence)}; ${where(t.evidence)}]`,
        );
      }
    }
    if (m.verification) {
      const v = m.verification;
      io.out(
        `Verification ${v.status}${v.serverInfo ? ` (${v.serverInfo.name} ${v.serverInfo.version})` : ""}${v.missingCredentials.length ? `; needs ${v.missingCredentials.join(", ")}` : ""}${v.error && v.status === "failed" ? `: ${v.error}` : ""}`,
      );
    }
  }
  if (a.warnings.length) {
    io.out("Warnings");
    for (const w of a.warnings) io.out(`  - ${w}`);
  }
}

export const analyze: Command = {
  name: "analyze",
  summary: "Analyse a GitHub repository, npm or PyPI package into a server manifest",
  usage: "catwalk analyze <source> [--json] [--verify] [--force] [--credential NAME=VALUE]...",
  description:
    "Sources: https://github.com/<owner>/<repo>[/tree/<ref>/<subdir>], npm:<package>[@<version>], pypi:<project>[==<version>]. Results are cached per commit; --force analyses again. --verify starts the package in a sandbox (no credentials unless given) and records the tools, resources and prompts it really serves.",
  options: {
    ...JSON_OPTION,
    verify: { type: "boolean", description: "Start the server and record what it serves" },
    force: { type: "boolean", description: "Analyse again even if this commit was analysed" },
    credential: {
      type: "string",
      multiple: true,
      value: "NAME=VALUE",
      description: "Credential for the verification run (never stored)",
    },
    ...CLIENT_OPTIONS,
  },
  positionals: [1, 1],
  async run(ctx: Context) {
    const client = ctx.client();
    const body = {
      source: ctx.args.positionals[0] as string,
      ...(ctx.bool("force") ? { force: true } : {}),
      ...(ctx.bool("verify") ? { verify: true } : {}),
      ...(ctx.list("credential").length ? { credentials: credentials(ctx.list("credential")) } : {}),
    };
    const started = await client.post<AnalysisView>("/api/analyses", body);
    if (started.status === "pending" || started.status === "running")
      await follow(client, started.id, ctx.io, ctx.bool("json"));
    const final = {
      ...(await client.get<AnalysisView>(`/api/analyses/${started.id}`)),
      cached: started.cached,
    };
    if (ctx.bool("json")) printJson(ctx.io, final);
    else renderAnalysis(ctx.io, final);
    if (final.status === "failed" && final.error) {
      ctx.io.err(`error: ${final.error.message}`);
      if (final.error.hint) ctx.io.err(`hint: ${final.error.hint}`);
      return EXIT.failed;
    }
    return final.status === "succeeded" ? EXIT.ok : EXIT.failed;
  },
};
