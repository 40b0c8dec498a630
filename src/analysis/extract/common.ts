import { isNpmName, isPypiName, isSafeArg } from "../../registry/names.ts";
import type { ServerArgument } from "../../registry/server-json.ts";
import type { PackageFact } from "../facts.ts";

/** Variables every process has or that runtimes own; never credentials of a server. */
const NOISE = new Set([
  "NODE_ENV",
  "PATH",
  "HOME",
  "USER",
  "USERNAME",
  "USERPROFILE",
  "APPDATA",
  "LOCALAPPDATA",
  "SHELL",
  "TERM",
  "PWD",
  "TMPDIR",
  "TEMP",
  "TMP",
  "CI",
  "LANG",
  "LC_ALL",
  "HOSTNAME",
  "PYTHONUNBUFFERED",
  "PYTHONPATH",
  "PYTHONDONTWRITEBYTECODE",
  "VIRTUAL_ENV",
  "NODE_OPTIONS",
  "NODE_PATH",
  "NODE_TLS_REJECT_UNAUTHORIZED",
  "FORCE_COLOR",
  "NO_COLOR",
  "DEBIAN_FRONTEND",
  "PIP_NO_CACHE_DIR",
  "UV_SYSTEM_PYTHON",
]);

export function isNoiseEnv(name: string): boolean {
  return NOISE.has(name) || /^(npm_|XDG_|LD_|DYLD_|GITHUB_ACTIONS$|RUNNER_)/.test(name);
}

/** An environment-variable-looking token: upper case with at least one underscore, 3–100 chars. */
export const ENV_TOKEN = /\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b/g;

const SECRET_PART =
  /(^|_)(KEY|APIKEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|PWD|PAT|CREDENTIALS?|AUTH|PRIVATE|COOKIE|SESSION|SIGNING|CLIENT_SECRET|DSN|CONNECTION_STRING)(_|$)/;

/** The name says it holds a secret (API_KEY, *_TOKEN, *_SECRET, *_PASSWORD, …). */
export function looksSecret(name: string): boolean {
  if (/(^|_)(KEY|TOKEN)_(PATH|FILE|ID|NAME|TYPE)$/.test(name)) return false;
  return SECRET_PART.test(name);
}

/** Placeholder values in examples (`<YOUR_KEY>`, `your-token-here`, `sk-...`, `xxx`). */
export function isPlaceholder(value: string): boolean {
  const v = value.trim();
  return (
    v === "" ||
    /^<.*>$/.test(v) ||
    /^\$\{?[A-Z_]+\}?$/.test(v) ||
    /your|here|replace|changeme|example|xxx|\.\.\.|…|placeholder|insert|<|>/i.test(v) ||
    /^(sk|ghp|pk)[-_]?\.*$/i.test(v)
  );
}

/** Secondary tools that appear in READMEs next to the server (inspectors, bridges, compilers). */
const TOOLING = new Set([
  "@modelcontextprotocol/inspector",
  "@smithery/cli",
  "mcp-remote",
  "supergateway",
  "typescript",
  "tsx",
  "ts-node",
  "npm",
  "pnpm",
  "yarn",
  "uv",
  "pip",
  "mcp",
  "shx",
  "rimraf",
  "node",
]);

const SAFE_VALUE = /^[A-Za-z0-9@%+=:,._-]{1,100}$/;

/** Turns the words after a package in a documented command line into server.json arguments. */
export function argsFrom(words: string[]): ServerArgument[] {
  const out: ServerArgument[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i] ?? "";
    if (w.startsWith("-")) {
      const [flag, inline] = w.split("=", 2);
      if (!flag || !isSafeArg(flag)) continue;
      const next =
        inline ?? (words[i + 1] !== undefined && !words[i + 1]?.startsWith("-") ? words[i + 1] : undefined);
      if (inline === undefined && next !== undefined) i++;
      const constant =
        next !== undefined && SAFE_VALUE.test(next) && !isPlaceholder(next) && !next.startsWith("/");
      out.push(
        next === undefined
          ? { type: "named", name: flag }
          : constant
            ? { type: "named", name: flag, value: next }
            : {
                type: "named",
                name: flag,
                isRequired: true,
                description: `Value for ${flag} (example: ${next.slice(0, 60)})`,
              },
      );
      continue;
    }
    if (SAFE_VALUE.test(w) && !isPlaceholder(w) && !w.startsWith("/")) {
      out.push({ type: "positional", value: w });
    } else {
      out.push({
        type: "positional",
        valueHint: `arg${i + 1}`,
        isRequired: true,
        description: `Example: ${w.slice(0, 60)}`,
      });
    }
  }
  return out;
}

/** Splits `@scope/name@1.2.3` / `name@^1` into name and spec. */
export function splitNpmSpec(word: string): { name: string; spec?: string } {
  const at = word.lastIndexOf("@");
  if (at > 0) return { name: word.slice(0, at), spec: word.slice(at + 1) };
  return { name: word };
}

/**
 * A documented command line (`npx -y @x/y --flag`, `uvx pkg arg`, `pipx run pkg`) as a package
 * fact, or undefined when it does not start an npm or PyPI package we accept.
 */
export function packageFromCommand(
  command: string,
  args: string[],
  base: Omit<PackageFact, "registryType" | "identifier">,
): PackageFact | undefined {
  const cmd = command.split("/").at(-1) ?? command;
  const rest = [...args];
  if (cmd === "npx" || cmd === "bunx" || cmd === "pnpx") {
    while (rest[0]?.startsWith("-")) {
      const flag = rest.shift();
      if (flag === "-p" || flag === "--package") rest.shift();
    }
    const first = rest.shift();
    if (!first) return undefined;
    const { name, spec } = splitNpmSpec(first);
    if (!isNpmName(name) || TOOLING.has(name)) return undefined;
    return { ...base, registryType: "npm", identifier: name, version: spec, args: argsFrom(rest) };
  }
  if (cmd === "uvx" || cmd === "pipx") {
    if (cmd === "pipx" && rest[0] === "run") rest.shift();
    let from: string | undefined;
    while (rest[0]?.startsWith("-")) {
      const flag = rest.shift();
      if (flag === "--from") from = rest.shift();
      else if (flag === "--with" || flag === "--python" || flag === "-p") rest.shift();
    }
    const first = rest.shift();
    const pkg = (from ?? first ?? "").replace(/\[.*\]$/, "");
    const [name = "", version] = pkg.split("==");
    if (!isPypiName(name) || TOOLING.has(name)) return undefined;
    return {
      ...base,
      registryType: "pypi",
      identifier: name,
      version,
      bin: from ? first : undefined,
      args: argsFrom(rest),
    };
  }
  return undefined;
}
