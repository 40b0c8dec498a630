import { EXACT_SEMVER, isSemverRange, parseNpmSpecifier } from "../runtime/local/npm.ts";
import { parsePypiSpecifier } from "../runtime/local/pypi.ts";
import { InvalidInputError } from "../util/error.ts";

/** What an operator can deploy, parsed from `npm:…`, `pypi:…`, a GitHub URL or a remote MCP URL. */
export type Source =
  | { kind: "npm"; name: string; range: string | undefined }
  | { kind: "pypi"; name: string; version: string | undefined }
  | { kind: "github"; url: string }
  | { kind: "remote"; url: string }
  | { kind: "registry"; name: string }
  | { kind: "command"; name: string };

const ACCEPTED =
  "Accepted sources: npm:<package>[@version], pypi:<package>[==version], registry:<name> (official MCP registry), https://github.com/<owner>/<repo>[/tree/<ref>/<dir>], or an http(s):// MCP endpoint URL.";

function parseNpm(spec: string): Source {
  const { name, wanted } = parseNpmSpecifier(spec.trim());
  if (
    wanted !== undefined &&
    !EXACT_SEMVER.test(wanted) &&
    !isSemverRange(wanted) &&
    !/^[A-Za-z][A-Za-z0-9._-]{0,63}$/.test(wanted)
  ) {
    throw new InvalidInputError(`${JSON.stringify(wanted)} is not a valid npm version, range or tag.`, {
      hint: ACCEPTED,
    });
  }
  return { kind: "npm", name, range: wanted };
}

function parsePypi(spec: string): Source {
  const { name, wanted } = parsePypiSpecifier(spec.trim());
  return { kind: "pypi", name, version: wanted };
}

/** Official MCP registry names: reverse-DNS namespace, a slash, a name (`io.github.owner/repo`). */
function parseRegistry(name: string): Source {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\/[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name)) {
    throw invalid(
      `${JSON.stringify(name.slice(0, 200))} is not an MCP registry server name (like io.github.owner/repo).`,
    );
  }
  return { kind: "registry", name };
}

function invalid(message: string): InvalidInputError {
  return new InvalidInputError(message, { hint: ACCEPTED });
}

function parseUrl(text: string): Source {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(`${JSON.stringify(text)} is not a valid URL.`);
  }
  if (url.username || url.password) {
    throw invalid("Put credentials for a remote server in --header, not in the URL.");
  }
  if (url.hostname === "github.com" || url.hostname === "www.github.com")
    return { kind: "github", url: url.toString() };
  return { kind: "remote", url: url.toString() };
}

export function parseSource(text: string): Source {
  const s = text.trim();
  if (s.startsWith("npm:")) return parseNpm(s.slice(4));
  if (s.startsWith("pypi:")) return parsePypi(s.slice(5));
  if (s.startsWith("registry:")) return parseRegistry(s.slice(9));
  if (/^https?:\/\//i.test(s)) return parseUrl(s);
  throw invalid(`Unrecognized source ${JSON.stringify(text.slice(0, 200))}.`);
}

/** A readable default name for a deployment of this source (`server-everything`). */
export function defaultName(source: Source): string {
  if (source.kind === "npm" || source.kind === "pypi") return source.name.replace(/^@[^/]+\//, "");
  if (source.kind === "command") return source.name;
  if (source.kind === "registry") return source.name.split("/").pop() ?? "server";
  const url = new URL(source.url);
  if (source.kind === "github") return url.pathname.split("/").filter(Boolean)[1] ?? "server";
  const host = url.hostname;
  if (host === "localhost" || /^[\d.]+$/.test(host) || host.includes(":") || host.startsWith("["))
    return "remote";
  return host.split(".")[0] ?? "remote";
}

/** The textual form of a package source (`npm:name@range`, `pypi:name==version`). */
export function sourceText(source: Source): string {
  if (source.kind === "npm") return `npm:${source.name}${source.range ? `@${source.range}` : ""}`;
  if (source.kind === "pypi") return `pypi:${source.name}${source.version ? `==${source.version}` : ""}`;
  if (source.kind === "command") return `command:${source.name}`;
  if (source.kind === "registry") return `registry:${source.name}`;
  return source.url;
}
