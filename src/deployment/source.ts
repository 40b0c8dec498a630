import { InvalidInputError } from "../util/error.ts";

/** What an operator can deploy, parsed from `npm:…`, `pypi:…`, a GitHub URL or a remote MCP URL. */
export type Source =
  | { kind: "npm"; name: string; range: string | undefined }
  | { kind: "pypi"; name: string; version: string | undefined }
  | { kind: "github"; url: string }
  | { kind: "remote"; url: string }
  | { kind: "command"; name: string };

const ACCEPTED =
  "Accepted sources: npm:<package>[@version], pypi:<package>[==version], https://github.com/<owner>/<repo>[/tree/<ref>/<dir>], or an http(s):// MCP endpoint URL.";

/** npm package names: optional `@scope/`, lowercase URL-safe characters, never shell syntax. */
const NPM_NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;
/** npm versions, ranges and dist-tags we accept (no spaces, quotes or shell metacharacters). */
const NPM_RANGE = /^[A-Za-z0-9.^~<>=*+|_-]{1,64}$/;
/** PEP 508 project names. */
const PYPI_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
/** PEP 440 versions (a practical subset: digits, dots, pre/post/dev tags, local versions). */
const PYPI_VERSION = /^[0-9][0-9A-Za-z.+!-]{0,63}$/;

export function isNpmName(name: string): boolean {
  return name.length <= 214 && NPM_NAME.test(name);
}

export function isPypiName(name: string): boolean {
  return name.length <= 128 && PYPI_NAME.test(name);
}

function invalid(message: string): InvalidInputError {
  return new InvalidInputError(message, { hint: ACCEPTED });
}

function parseNpm(spec: string): Source {
  const at = spec.indexOf("@", spec.startsWith("@") ? 1 : 0);
  const name = at === -1 ? spec : spec.slice(0, at);
  const range = at === -1 ? undefined : spec.slice(at + 1);
  if (!isNpmName(name)) throw invalid(`${JSON.stringify(name)} is not a valid npm package name.`);
  if (range !== undefined && !NPM_RANGE.test(range))
    throw invalid(`${JSON.stringify(range)} is not a valid npm version or range.`);
  return { kind: "npm", name, range: range || undefined };
}

function parsePypi(spec: string): Source {
  const [name = "", version, extra] = spec.split("==");
  if (extra !== undefined || !isPypiName(name))
    throw invalid(`${JSON.stringify(spec)} is not a valid PyPI requirement.`);
  if (version !== undefined && !PYPI_VERSION.test(version))
    throw invalid(`${JSON.stringify(version)} is not a valid PyPI version.`);
  return { kind: "pypi", name, version: version || undefined };
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
  if (/^https?:\/\//i.test(s)) return parseUrl(s);
  throw invalid(`Unrecognized source ${JSON.stringify(text.slice(0, 200))}.`);
}

/** A readable default name for a deployment of this source (`server-everything`). */
export function defaultName(source: Source): string {
  if (source.kind === "npm" || source.kind === "pypi") return source.name.replace(/^@[^/]+\//, "");
  if (source.kind === "command") return source.name;
  const url = new URL(source.url);
  if (source.kind === "github") return url.pathname.split("/").filter(Boolean)[1] ?? "server";
  const host = url.hostname;
  if (host === "localhost" || /^[\d.]+$/.test(host) || host.includes(":") || host.startsWith("["))
    return "remote";
  return host.split(".")[0] ?? "remote";
}
