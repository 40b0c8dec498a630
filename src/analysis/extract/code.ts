import type { EnvFact, Facts, ItemFact, SignalFact } from "../facts.ts";
import { lineAt } from "../facts.ts";
import type { RepoFile } from "../github.ts";
import { isNoiseEnv } from "./common.ts";

/**
 * Source-code evidence, read as text and never executed: environment reads
 * (`process.env.X`, `process.env["X"]`, `os.environ["X"]`, `os.environ.get("X", d)`,
 * `os.getenv("X", d)`, `Deno.env.get("X")`), whether a missing variable stops the server, and
 * tools/resources/prompts registered through the MCP SDKs' high-level APIs.
 */
const JS_READS = [
  /process\.env\.([A-Za-z_][A-Za-z0-9_]*)/g,
  /process\.env\[\s*["'`]([A-Za-z_][A-Za-z0-9_]*)["'`]\s*\]/g,
  /Deno\.env\.get\(\s*["'`]([A-Za-z_][A-Za-z0-9_]*)["'`]/g,
  /Bun\.env\.([A-Za-z_][A-Za-z0-9_]*)/g,
];
const PY_REQUIRED = /os\.environ\[\s*["']([A-Za-z_][A-Za-z0-9_]*)["']\s*\]/g;
const PY_OPTIONAL =
  /(?:os\.environ\.get|os\.getenv)\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']\s*(?:,\s*([^)]*))?\)/g;

const STOPS =
  /throw |process\.exit\(\s*[1-9]|sys\.exit\(|raise |\brequired\b|must be set|not set|is missing/i;

function literal(expr: string | undefined): string | undefined {
  const m = /^\s*(?:["'`]([^"'`]*)["'`]|(-?\d+(?:\.\d+)?)|(True|False|true|false))\s*$/.exec(expr ?? "");
  if (!m) return undefined;
  return m[1] ?? m[2] ?? (m[3] ? m[3].toLowerCase() : undefined);
}

/** `process.env.X ?? "d"`, `process.env.X || "d"`: the literal after the read. */
function jsDefault(text: string, end: number): string | undefined {
  const m = /^\s*(?:\?\?|\|\|)\s*(["'`][^"'`\n]*["'`]|-?\d+(?:\.\d+)?)/.exec(text.slice(end, end + 120));
  return m ? literal(m[1]) : undefined;
}

/** The variable the read is assigned to (`const token = process.env.X`), to follow `if (!token)`. */
function assignedTo(text: string, start: number): string | undefined {
  const before = text.slice(Math.max(0, start - 80), start);
  return /(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*(?::\s*[\w<>| ]+)?=\s*$/.exec(before)?.[1];
}

function stopsWithout(lines: string[], line: number, name: string, alias: string | undefined): boolean {
  const window = lines.slice(line - 1, line + 5).join("\n");
  const guard = new RegExp(`if\\s*\\(\\s*!\\s*(?:${alias ? `${alias}|` : ""}process\\.env\\.${name}\\b)`);
  if (guard.test(window) && STOPS.test(window)) return true;
  const here = lines[line - 1] ?? "";
  return (
    here.includes(name) && /["'`][^"'`]*\b(required|must be set|not set|missing)\b[^"'`]*["'`]/i.test(here)
  );
}

function envReads(file: RepoFile): EnvFact[] {
  const out: EnvFact[] = [];
  const lines = file.text.split("\n");
  const isPy = file.path.endsWith(".py");
  const push = (name: string, index: number, extra: Partial<EnvFact>) => {
    if (isNoiseEnv(name)) return;
    out.push({ name, source: "code", loc: { file: file.path, line: lineAt(file.text, index) }, ...extra });
  };
  if (isPy) {
    for (const m of file.text.matchAll(PY_REQUIRED)) {
      push(m[1] ?? "", m.index, { required: true, note: "os.environ[...] fails when unset" });
    }
    for (const m of file.text.matchAll(PY_OPTIONAL)) {
      const def = literal(m[2]);
      push(
        m[1] ?? "",
        m.index,
        def !== undefined ? { default: def, required: false } : { note: "read with a None fallback" },
      );
    }
    return out;
  }
  for (const re of JS_READS) {
    for (const m of file.text.matchAll(re)) {
      const name = m[1] ?? "";
      const line = lineAt(file.text, m.index);
      const def = jsDefault(file.text, m.index + m[0].length);
      const stops = stopsWithout(lines, line, name, assignedTo(file.text, m.index));
      push(
        name,
        m.index,
        def !== undefined
          ? { default: def, required: false }
          : stops
            ? { required: true, note: "the server stops when it is unset" }
            : {},
      );
    }
  }
  return out;
}

function stringAt(text: string): string | undefined {
  return /^\s*["'`]((?:[^"'`\\]|\\.){1,300})["'`]/.exec(text)?.[1];
}

function jsItems(file: RepoFile): ItemFact[] {
  const out: ItemFact[] = [];
  const t = file.text;
  const at = (i: number) => ({ file: file.path, line: lineAt(t, i) });
  for (const m of t.matchAll(/\.(registerTool|tool)\(\s*["'`]([A-Za-z0-9_.-]{1,128})["'`]\s*,/g)) {
    const after = t.slice(m.index + m[0].length, m.index + m[0].length + 600);
    const description =
      m[1] === "tool"
        ? stringAt(after)
        : /description\s*:\s*["'`]((?:[^"'`\\]|\\.){1,300})["'`]/.exec(after)?.[1];
    out.push({ kind: "tool", name: m[2] ?? "", description, source: "code", loc: at(m.index) });
  }
  for (const m of t.matchAll(
    /\.(registerResource|resource)\(\s*["'`]([A-Za-z0-9_.-]{1,128})["'`]\s*,\s*(?:["'`]([^"'`]+)["'`]|new ResourceTemplate\(\s*["'`]([^"'`]+)["'`])?/g,
  )) {
    out.push({ kind: "resource", name: m[2] ?? "", uri: m[3] ?? m[4], source: "code", loc: at(m.index) });
  }
  for (const m of t.matchAll(/\.(registerPrompt|prompt)\(\s*["'`]([A-Za-z0-9_.-]{1,128})["'`]\s*,/g)) {
    const after = t.slice(m.index + m[0].length, m.index + m[0].length + 400);
    const description =
      m[1] === "prompt" ? stringAt(after) : /description\s*:\s*["'`]([^"'`]{1,300})["'`]/.exec(after)?.[1];
    out.push({ kind: "prompt", name: m[2] ?? "", description, source: "code", loc: at(m.index) });
  }
  if (/ListToolsRequestSchema/.test(t)) {
    for (const m of t.matchAll(
      /\{\s*name\s*:\s*["'`]([A-Za-z0-9_.-]{1,128})["'`]\s*,\s*description\s*:\s*["'`]([^"'`]{0,300})["'`]/g,
    )) {
      out.push({
        kind: "tool",
        name: m[1] ?? "",
        description: m[2] || undefined,
        source: "code",
        loc: at(m.index),
      });
    }
  }
  return out;
}

function pyItems(file: RepoFile): ItemFact[] {
  const out: ItemFact[] = [];
  const t = file.text;
  const re =
    /@\w+\.(tool|resource|prompt)\(([^)]*)\)\s*\n(?:\s*@[^\n]*\n)*\s*(?:async\s+)?def\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(/g;
  for (const m of t.matchAll(re)) {
    const kind = m[1] as ItemFact["kind"];
    const args = m[2] ?? "";
    const named = /name\s*=\s*["']([^"']+)["']/.exec(args)?.[1];
    const first = /^\s*["']([^"']+)["']/.exec(args)?.[1];
    const body = t.slice(m.index + m[0].length, m.index + m[0].length + 800);
    const doc = /\)\s*(?:->\s*[^:]+)?:\s*\n\s*(?:"""|''')\s*([^\n"']+)/.exec(body)?.[1]?.trim();
    const explicitDesc = /description\s*=\s*["']([^"']+)["']/.exec(args)?.[1];
    out.push({
      kind,
      name: named ?? (kind === "resource" ? (m[3] ?? "") : (m[3] ?? "")),
      uri: kind === "resource" ? first : undefined,
      description: explicitDesc ?? doc,
      source: "code",
      loc: { file: file.path, line: lineAt(t, m.index) },
    });
  }
  if (/Tool\(/.test(t)) {
    for (const m of t.matchAll(
      /Tool\(\s*name\s*=\s*["']([A-Za-z0-9_.-]{1,128})["']\s*,\s*description\s*=\s*["']([^"']{0,300})["']/g,
    )) {
      out.push({
        kind: "tool",
        name: m[1] ?? "",
        description: m[2] || undefined,
        source: "code",
        loc: { file: file.path, line: lineAt(t, m.index) },
      });
    }
  }
  return out;
}

function signals(file: RepoFile): SignalFact[] {
  const m =
    /from\s+["']@modelcontextprotocol\/(sdk|server)[^"']*["']|require\(["']@modelcontextprotocol\/sdk|^\s*from\s+(mcp|fastmcp)(\.[\w.]+)?\s+import|^\s*import\s+(mcp|fastmcp)\b/m.exec(
      file.text,
    );
  if (!m) return [];
  return [
    {
      strength: "strong",
      note: "imports an MCP server SDK",
      loc: { file: file.path, line: lineAt(file.text, m.index) },
    },
  ];
}

export function fromCode(file: RepoFile): Partial<Facts> {
  const isPy = file.path.endsWith(".py");
  return { env: envReads(file), items: isPy ? pyItems(file) : jsItems(file), signals: signals(file) };
}
