import type { EnvFact, Facts, ItemFact, PackageFact } from "../facts.ts";
import type { RepoFile } from "../github.ts";
import { ENV_TOKEN, isNoiseEnv, isPlaceholder, packageFromCommand } from "./common.ts";

/**
 * README evidence: environment variable tables, `claude_desktop_config.json`-style blocks
 * (`mcpServers`), install commands, variables named in prose, and Tools/Resources/Prompts
 * sections. HTML comments are blanked first (keeping line numbers): text a reader never sees is
 * not documentation, and it is where prompt injections like to hide.
 */
export function stripHtmlComments(text: string): string {
  return text.replace(/<!--[\s\S]*?-->/g, (c) => c.replace(/[^\n]/g, " "));
}

interface Block {
  lang: string;
  start: number;
  lines: string[];
}

interface Parsed {
  lines: string[];
  /** Line index → true when inside a fenced code block. */
  fenced: boolean[];
  blocks: Block[];
}

function parse(text: string): Parsed {
  const lines = stripHtmlComments(text).split("\n");
  const fenced: boolean[] = [];
  const blocks: Block[] = [];
  let open: Block | undefined;
  lines.forEach((line, i) => {
    const fence = /^\s*(```|~~~)\s*([\w.+-]*)/.exec(line);
    if (fence && !open) {
      open = { lang: (fence[2] ?? "").toLowerCase(), start: i + 1, lines: [] };
      fenced.push(true);
      return;
    }
    if (fence && open) {
      blocks.push(open);
      open = undefined;
      fenced.push(true);
      return;
    }
    fenced.push(open !== undefined);
    open?.lines.push(line);
  });
  return { lines, fenced, blocks };
}

function cells(row: string): string[] {
  return row
    .trim()
    .replace(/^\|/, "")
    .replace(/\|$/, "")
    .split("|")
    .map((c) => c.trim());
}

function yesNo(cell: string | undefined): boolean | undefined {
  const c = (cell ?? "").replace(/[*_`]/g, "").trim().toLowerCase();
  if (/^(yes|y|true|required|mandatory|✅|✔️?|☑️?|x)\b/.test(c) || c === "✅" || c === "✔") return true;
  if (/^(no|n|false|optional|❌|✖️?|-|—)$/.test(c) || c.startsWith("no ") || c.startsWith("optional"))
    return false;
  return undefined;
}

function cleanCell(cell: string | undefined): string | undefined {
  const c = (cell ?? "").replace(/`/g, "").replace(/\*\*/g, "").trim();
  return c === "" || c === "-" || c === "—" || /^n\/?a$/i.test(c) ? undefined : c;
}

function tables(file: RepoFile, p: Parsed): EnvFact[] {
  const out: EnvFact[] = [];
  for (let i = 0; i + 1 < p.lines.length; i++) {
    const head = p.lines[i] ?? "";
    const sep = p.lines[i + 1] ?? "";
    if (p.fenced[i] || !head.includes("|") || !/^\s*\|?\s*:?-{2,}/.test(sep)) continue;
    const header = cells(head).map((h) => h.toLowerCase());
    const col = (re: RegExp) => header.findIndex((h) => re.test(h));
    const nameCol = col(/variable|env|name|key|setting|option/);
    if (nameCol < 0) continue;
    const envTable = /variable|env/.test(header[nameCol] ?? "");
    const reqCol = col(/required|mandatory/);
    const defCol = col(/default/);
    const descCol = col(/description|purpose|meaning|notes?|details/);
    for (let r = i + 2; r < p.lines.length && (p.lines[r] ?? "").includes("|"); r++) {
      const row = cells(p.lines[r] ?? "");
      const nameCell = row[nameCol] ?? "";
      const name =
        /`([A-Za-z_][A-Za-z0-9_]*)`/.exec(nameCell)?.[1] ??
        /^[*_]*([A-Z][A-Z0-9_]+)[*_]*$/.exec(nameCell)?.[1];
      if (!name || isNoiseEnv(name) || (!envTable && !name.includes("_"))) continue;
      const desc = cleanCell(row[descCol]);
      let required = reqCol >= 0 ? yesNo(row[reqCol]) : undefined;
      if (required === undefined && desc)
        required = /\brequired\b/i.test(desc) ? true : /\boptional\b/i.test(desc) ? false : undefined;
      out.push({
        name,
        source: "readme-table",
        loc: { file: file.path, line: r + 1 },
        description: desc,
        required,
        default: defCol >= 0 ? cleanCell(row[defCol]) : undefined,
      });
    }
  }
  return out;
}

/** JSON with comments and trailing commas, as READMEs write it. */
function looseJson(text: string): unknown {
  const stripped = text.replace(/^\s*\/\/.*$/gm, "").replace(/,(\s*[}\]])/g, "$1");
  try {
    return JSON.parse(stripped);
  } catch {
    return undefined;
  }
}

interface ServerEntry {
  command?: unknown;
  args?: unknown;
  env?: unknown;
  url?: unknown;
  type?: unknown;
}

function configBlocks(file: RepoFile, p: Parsed): Partial<Facts> {
  const env: EnvFact[] = [];
  const packages: PackageFact[] = [];
  const remotes: Facts["remotes"] = [];
  for (const block of p.blocks) {
    if (!/^(json|jsonc|json5|)$/.test(block.lang)) continue;
    const text = block.lines.join("\n");
    if (!/"(mcpServers|servers)"/.test(text)) continue;
    const doc = looseJson(text) as
      | { mcpServers?: Record<string, ServerEntry>; servers?: Record<string, ServerEntry> }
      | undefined;
    const servers = doc?.mcpServers ?? doc?.servers;
    if (!servers || typeof servers !== "object") continue;
    const lineOf = (needle: string) => {
      const i = block.lines.findIndex((l) => l.includes(needle));
      return block.start + 1 + Math.max(i, 0);
    };
    for (const entry of Object.values(servers)) {
      if (!entry || typeof entry !== "object") continue;
      const args = Array.isArray(entry.args) ? entry.args.map(String) : [];
      if (typeof entry.command === "string") {
        const fact = packageFromCommand(entry.command, args, {
          source: "readme-config",
          loc: {
            file: file.path,
            line: lineOf(`"${args.find((a) => !a.startsWith("-")) ?? entry.command}"`),
          },
        });
        if (fact) packages.push(fact);
      }
      if (typeof entry.url === "string" && /^https:\/\//.test(entry.url)) {
        remotes.push({
          type: entry.type === "sse" || /\/sse\/?$/.test(entry.url) ? "sse" : "streamable-http",
          url: entry.url,
          source: "readme-config",
          loc: { file: file.path, line: lineOf(entry.url) },
        });
      }
      if (entry.env && typeof entry.env === "object") {
        for (const [name, value] of Object.entries(entry.env as Record<string, unknown>)) {
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || isNoiseEnv(name)) continue;
          const v = String(value ?? "");
          env.push({
            name,
            source: "readme-config",
            loc: { file: file.path, line: lineOf(`"${name}"`) },
            note: isPlaceholder(v)
              ? "in the example client config"
              : `in the example client config (example value ${JSON.stringify(v.slice(0, 40))})`,
          });
        }
      }
    }
  }
  return { env, packages, remotes };
}

function shellWords(line: string): string[] {
  return (line.match(/"[^"]*"|'[^']*'|\S+/g) ?? []).map((w) => w.replace(/^["']|["']$/g, ""));
}

function commands(file: RepoFile, p: Parsed): Partial<Facts> {
  const packages: PackageFact[] = [];
  const env: EnvFact[] = [];
  p.lines.forEach((raw, i) => {
    const inline = p.fenced[i] ? [raw] : [...raw.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? "");
    for (const text of inline) {
      const line = text.trim().replace(/^\$\s+/, "");
      const exp = /^(?:export\s+)?([A-Z][A-Z0-9_]*)=(\S*)/.exec(line);
      if (exp && p.fenced[i] && !isNoiseEnv(exp[1] ?? "")) {
        const v = exp[2] ?? "";
        env.push({
          name: exp[1] ?? "",
          source: "readme-prose",
          loc: { file: file.path, line: i + 1 },
          note: isPlaceholder(v)
            ? "set in an example shell session"
            : "set in an example shell session with an example value",
        });
      }
      const words = shellWords(line.replace(/^(?:[A-Z][A-Z0-9_]*=\S+\s+)+/, ""));
      const [cmd, ...args] = words;
      if (!cmd) continue;
      const base = { source: "readme-install" as const, loc: { file: file.path, line: i + 1 } };
      const direct = packageFromCommand(cmd, args, base);
      if (direct) packages.push(direct);
      const install = /^(pip|pip3|uv|npm|pnpm|yarn|bun)$/.exec(cmd);
      if (install) {
        const rest = args.filter(
          (a) => !a.startsWith("-") && !["install", "add", "i", "pip", "global", "tool"].includes(a),
        );
        const pkg = rest[0];
        if (pkg && args.some((a) => ["install", "add", "i"].includes(a))) {
          const isPy = cmd.startsWith("pip") || cmd === "uv";
          const fact = isPy ? packageFromCommand("uvx", [pkg], base) : packageFromCommand("npx", [pkg], base);
          if (fact) packages.push({ ...fact, args: [] });
        }
      }
    }
  });
  return { packages, env };
}

const CONTEXT = /environment|env\b|variable|\bset\b|export|token|api key|secret|credential|config/i;

function prose(file: RepoFile, p: Parsed): EnvFact[] {
  const out: EnvFact[] = [];
  let section = "";
  p.lines.forEach((line, i) => {
    if (p.fenced[i]) return;
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (heading) {
      section = heading[1] ?? "";
      return;
    }
    if (line.includes("|")) return;
    const names = [...line.matchAll(ENV_TOKEN)].map((m) => m[0]);
    if (names.length === 0) return;
    const inConfig = /config|environment|setup|usage|install|auth|credential|variable/i.test(section);
    if (!CONTEXT.test(line) && !inConfig) return;
    for (const name of new Set(names)) {
      if (isNoiseEnv(name)) continue;
      const backticked = line.includes(`\`${name}\``);
      if (!backticked && !CONTEXT.test(line)) continue;
      const after = line.slice(line.indexOf(name) + name.length);
      const local = after.slice(0, 160);
      const required =
        /\(required\)|\bis required\b|\brequired\b/i.test(line) && !/not required/i.test(line)
          ? true
          : /\boptional\b|\(optional\)/i.test(local)
            ? false
            : undefined;
      const def = /defaults? (?:is |to )?`([^`]+)`/i.exec(local)?.[1];
      const bullet = /^\s*[-*]\s+/.test(line);
      const description = bullet
        ? after.replace(/^[`*_]*\s*(\((required|optional)\))?\s*[:–—-]?\s*/i, "").trim() || undefined
        : undefined;
      out.push({
        name,
        source: "readme-prose",
        loc: { file: file.path, line: i + 1 },
        required,
        default: def,
        description,
      });
    }
  });
  return out;
}

function sections(file: RepoFile, p: Parsed): ItemFact[] {
  const out: ItemFact[] = [];
  let kind: ItemFact["kind"] | undefined;
  p.lines.forEach((line, i) => {
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (heading) {
      const h = (heading[1] ?? "").toLowerCase();
      kind = /\btools?\b/.test(h)
        ? "tool"
        : /\bresources?\b/.test(h)
          ? "resource"
          : /\bprompts?\b/.test(h)
            ? "prompt"
            : undefined;
      return;
    }
    if (!kind || p.fenced[i]) return;
    const m = /^\s*[-*]\s+(?:\*\*|`)?([A-Za-z0-9_.:/{}-]{1,100})(?:\*\*|`)?\s*(?:[-–—:]\s*(.+))?$/.exec(line);
    if (!m) return;
    const name = m[1] ?? "";
    const isUri = name.includes("://");
    if (kind !== "resource" && !/^[A-Za-z0-9_.-]+$/.test(name)) return;
    out.push({
      kind,
      name,
      uri: isUri ? name : undefined,
      description: m[2]?.trim(),
      source: "readme-prose",
      loc: { file: file.path, line: i + 1 },
    });
  });
  return out;
}

function firstParagraph(p: Parsed): { text: string; line: number } | undefined {
  for (let i = 0; i < p.lines.length; i++) {
    const line = (p.lines[i] ?? "").trim();
    if (
      p.fenced[i] ||
      line === "" ||
      line.startsWith("#") ||
      line.startsWith("[![") ||
      line.startsWith("<") ||
      line.startsWith("|") ||
      line.startsWith("!")
    )
      continue;
    const para: string[] = [];
    for (let j = i; j < p.lines.length && (p.lines[j] ?? "").trim() !== ""; j++)
      para.push((p.lines[j] ?? "").trim());
    const text = para
      .join(" ")
      .replace(/\[([^\]]+)\]\([^)]+\)/g, "$1")
      .replace(/[*_`]/g, "");
    return text.length >= 10 ? { text: text.slice(0, 300), line: i + 1 } : undefined;
  }
  return undefined;
}

export function fromReadme(file: RepoFile): Partial<Facts> {
  const p = parse(file.text);
  const config = configBlocks(file, p);
  const cmds = commands(file, p);
  const out: Partial<Facts> = {
    env: [...tables(file, p), ...(config.env ?? []), ...(cmds.env ?? []), ...prose(file, p)],
    packages: [...(config.packages ?? []), ...(cmds.packages ?? [])],
    remotes: config.remotes ?? [],
    items: sections(file, p),
    meta: [],
    signals: [],
  };
  const mcpName = /<!--\s*mcp-name:\s*([a-zA-Z0-9.-]+\/[a-zA-Z0-9._-]+)\s*-->/.exec(file.text);
  if (mcpName) {
    const line = file.text.slice(0, mcpName.index).split("\n").length;
    out.meta?.push({
      field: "name",
      value: mcpName[1] ?? "",
      source: "readme-prose",
      loc: { file: file.path, line },
    });
    out.signals?.push({ strength: "strong", note: "declares mcp-name", loc: { file: file.path, line } });
  }
  const para = firstParagraph(p);
  if (para)
    out.meta?.push({
      field: "description",
      value: para.text,
      source: "readme-prose",
      loc: { file: file.path, line: para.line },
    });
  const mention = p.lines.findIndex((l) => /model context protocol|\bmcp server\b/i.test(l));
  if (mention >= 0)
    out.signals?.push({
      strength: "weak",
      note: "README mentions MCP",
      loc: { file: file.path, line: mention + 1 },
    });
  return out;
}
