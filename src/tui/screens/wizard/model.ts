import type { Analysis, CredentialIssue, CredentialSchema, Evidence, Manifest } from "../../api.ts";
import { percent } from "../../format.ts";

/** What the wizard does with a source: analyse it first, or deploy a remote endpoint as is. */
export type SourceKind = "package" | "github" | "remote";

export const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?$/;
export const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/;

export function classify(text: string): { kind: SourceKind } | { error: string } {
  const s = text.trim();
  if (!s) return { error: "Type a source: a GitHub URL, npm:<package>, pypi:<project> or a remote MCP URL." };
  if (/^(npm|pypi):\S+$/i.test(s)) return { kind: "package" };
  if (/^(https?:\/\/)?(www\.)?github\.com\/\S+$/i.test(s)) return { kind: "github" };
  if (/^https?:\/\/\S+$/i.test(s)) {
    try {
      new URL(s);
      return { kind: "remote" };
    } catch {
      return { error: `${s} is not a valid URL.` };
    }
  }
  return { error: `Not a source: ${s.slice(0, 60)}. Use a GitHub URL, npm:, pypi: or an http(s) MCP URL.` };
}

function slugify(s: string): string {
  return (
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 40)
      .replace(/-+$/, "") || "server"
  );
}

/** A readable, free deployment name for a source: `server-everything`, `weather-mcp-2`. */
export function defaultName(source: string, taken: ReadonlySet<string>): string {
  const s = source.trim();
  let base: string;
  const pkg = /^(?:npm|pypi):(.+)$/i.exec(s);
  if (pkg) {
    base = (pkg[1] as string).replace(/^@[^/]+\//, "").replace(/(?<=.)[@=].*$/, "");
  } else {
    try {
      const url = new URL(/^https?:\/\//i.test(s) ? s : `https://${s}`);
      base = /github\.com$/i.test(url.hostname)
        ? (url.pathname.split("/").filter(Boolean)[1] ?? "server")
        : (url.hostname.split(".")[0] ?? "remote");
    } catch {
      base = "server";
    }
  }
  const clean = slugify(base);
  for (let i = 1; i < 1000; i++) {
    const candidate = i === 1 ? clean : `${clean}-${i}`;
    if (!taken.has(candidate)) return candidate;
  }
  return clean;
}

/** One line of the manifest review: a value, and where it came from with how sure that is. */
export interface ReviewRow {
  key: string;
  label: string;
  value: string;
  confidence?: number | undefined;
  evidence: Evidence[];
  /** Extra lines for the evidence pane (e.g. each tool). */
  details?: string[];
  edit?: "name" | "mode" | "args" | "headerName" | "headerValue";
}

export function evidenceText(e: Evidence): string {
  const note = e.note ? `: ${e.note}` : "";
  switch (e.kind) {
    case "file":
      return `${e.file}${e.line ? `:${e.line}` : ""}${note}`;
    case "claude":
      return `Claude${note}`;
    case "registry":
      return `${e.registry} registry${note}`;
    case "verification":
      return `verified by running it${note}`;
  }
}

/** The manifest as review rows, most important first. */
export function manifestRows(m: Manifest): ReviewRow[] {
  const rows: ReviewRow[] = [];
  const field = (
    key: string,
    label: string,
    f: { value: string; evidence: Evidence[]; confidence: number },
  ) => rows.push({ key, label, value: f.value, confidence: f.confidence, evidence: f.evidence });
  field("server", "Server", m.name);
  const p = m.packages[0];
  if (p) {
    rows.push({
      key: "package",
      label: "Package",
      value: `${p.registryType} ${p.identifier.value}`,
      confidence: p.identifier.confidence,
      evidence: p.identifier.evidence,
    });
    field("version", "Version", p.version);
    if (p.bin) field("bin", "Command", p.bin);
    p.packageArguments.forEach((a, i) => {
      const arg = a.argument;
      const text =
        arg.type === "named"
          ? `${arg.name}${arg.value ? ` ${arg.value}` : ""}`
          : (arg.value ?? arg.valueHint ?? "");
      rows.push({
        key: `arg${i}`,
        label: "Argument",
        value: text,
        confidence: a.confidence,
        evidence: a.evidence,
      });
    });
    for (const e of p.environmentVariables) {
      const marks = [e.isRequired ? "required" : "optional", e.isSecret ? "secret" : ""].filter(Boolean);
      rows.push({
        key: `env:${e.name}`,
        label: e.isRequired ? `${e.name} *` : e.name,
        value: `${marks.join(", ")}${e.default ? ` · default ${e.default}` : ""}${e.description ? ` · ${e.description}` : ""}`,
        confidence: e.confidence,
        evidence: e.evidence,
      });
    }
  }
  for (const [i, r] of m.remotes.entries()) {
    rows.push({
      key: `remote${i}`,
      label: "Remote",
      value: `${r.type} ${r.url}`,
      confidence: r.confidence,
      evidence: r.evidence,
    });
  }
  field("description", "Description", m.description);
  for (const [kind, items] of [
    ["Tools", m.tools],
    ["Resources", m.resources],
    ["Prompts", m.prompts],
  ] as const) {
    if (!items.length) continue;
    const verified = items.filter((t) => t.verified).length;
    rows.push({
      key: kind,
      label: kind,
      value: `${items.length}${verified ? ` (${verified} verified)` : ""}: ${items.map((t) => t.name).join(", ")}`,
      confidence: Math.max(...items.map((t) => t.confidence)),
      evidence: [],
      details: items.map(
        (t) =>
          `${t.name} ${percent(t.confidence)}${t.evidence[0] ? ` · ${evidenceText(t.evidence[0])}` : ""}`,
      ),
    });
  }
  rows.push({
    key: "mcp",
    label: "MCP server?",
    value: m.isMcpServer.value ? "yes" : "no",
    confidence: m.isMcpServer.confidence,
    evidence: m.isMcpServer.evidence,
  });
  return rows;
}

export function manifestTitle(a: Analysis): string {
  const m = a.manifest;
  if (!m) return a.source;
  const p = m.packages[0];
  return p ? `${p.identifier.value}@${p.version.value}` : m.name.value;
}

/** Problems of one credential value that can be seen without the server (required, pattern). */
export function localIssue(schema: CredentialSchema, name: string, value: string): string | undefined {
  const p = schema.properties[name];
  if (!p) return undefined;
  if (value === "") return schema.required.includes(name) ? "required" : undefined;
  if (p.enum && !p.enum.includes(value)) return `one of ${p.enum.join(", ")}`;
  if (p.pattern && !new RegExp(p.pattern).test(value)) {
    return p["x-catwalk-format"] === "number" ? "must be a number" : `must match ${p.pattern}`;
  }
  return undefined;
}

/** Server-side issues by field; issues about fields the form does not have go under "". */
export function issuesByField(schema: CredentialSchema, issues: CredentialIssue[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const i of issues) {
    const key = schema.properties[i.field] ? i.field : "";
    out[key] = out[key] ? `${out[key]} ${i.message}` : i.message;
  }
  return out;
}

/** Values to send: empty optional fields are left out so the server applies their defaults. */
export function filledValues(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== ""));
}
