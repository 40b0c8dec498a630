import { ENV_NAME } from "../registry/names.ts";
import { CatwalkError } from "../util/error.ts";
import type { EnvVar, Manifest } from "./manifest.ts";

/**
 * The credential form of a deployment, derived from its manifest: a JSON Schema (2020-12) object
 * whose properties are the package's environment variables (or a remote's headers). Every value is
 * a string, as environment variables are; `x-catwalk-format` keeps server.json's format and the
 * string constraints (`pattern`, `enum`) enforce it. Secrets are `writeOnly` with format
 * `password`, so forms mask them and APIs never echo them. The TUI renders the schema as a form;
 * `validateCredentials` checks values against it before a deployment starts.
 */
export interface CredentialProperty {
  type: "string";
  title: string;
  description?: string;
  default?: string;
  enum?: string[];
  pattern?: string;
  minLength?: number;
  maxLength: number;
  format?: "password";
  writeOnly?: true;
  "x-catwalk-format": EnvVar["format"];
  "x-catwalk-secret": boolean;
}

export interface CredentialSchema {
  $schema: "https://json-schema.org/draft/2020-12/schema";
  type: "object";
  title: string;
  properties: Record<string, CredentialProperty>;
  required: string[];
  additionalProperties: false;
}

export type CredentialIssueCode = "missing" | "empty" | "invalid" | "unknown" | "reserved" | "not_string";

export interface CredentialIssue {
  field: string;
  code: CredentialIssueCode;
  message: string;
}

export interface CredentialCheck {
  ok: boolean;
  errors: CredentialIssue[];
  /** The given values plus defaults for absent optional fields; only meaningful when ok. */
  values: Record<string, string>;
}

const MAX_VALUE = 32 * 1024;
const NUMBER = "^-?[0-9]+(\\.[0-9]+)?$";

/** Names a deployment may never set: they change how the runtime itself behaves. */
const RESERVED = new Set([
  "PATH",
  "HOME",
  "LANG",
  "TMPDIR",
  "SHELL",
  "USER",
  "PWD",
  "NODE_OPTIONS",
  "NODE_PATH",
  "PYTHONPATH",
  "PYTHONHOME",
  "PYTHONSTARTUP",
  "VIRTUAL_ENV",
]);
const RESERVED_PREFIX = /^(LD_|DYLD_|npm_config_|NPM_CONFIG_|BUN_|UV_|PIP_|CATWALK_)/;

export function isReservedEnv(name: string): boolean {
  return RESERVED.has(name) || RESERVED_PREFIX.test(name);
}

export class CredentialsInvalidError extends CatwalkError {
  readonly code = "deployment.credentials_invalid";
  readonly status = 422;
  constructor(readonly issues: CredentialIssue[]) {
    super(
      `The credentials are incomplete or invalid: ${issues.map((i) => `${i.field} (${i.code})`).join(", ")}.`,
      { hint: issues.map((i) => i.message).join(" ") },
    );
  }
}

function property(e: EnvVar): CredentialProperty {
  const p: CredentialProperty = {
    type: "string",
    title: e.name,
    maxLength: MAX_VALUE,
    "x-catwalk-format": e.format,
    "x-catwalk-secret": e.isSecret,
  };
  if (e.description) p.description = e.description;
  if (e.default !== undefined && !e.isSecret) p.default = e.default;
  if (e.choices?.length) p.enum = [...e.choices];
  else if (e.format === "boolean") p.enum = ["true", "false"];
  else if (e.pattern) p.pattern = e.pattern;
  else if (e.format === "number") p.pattern = NUMBER;
  if (e.isRequired) p.minLength = 1;
  if (e.isSecret) {
    p.format = "password";
    p.writeOnly = true;
  }
  return p;
}

/** The variables a deployment of this manifest takes: the first package's, else the first remote's headers. */
export function credentialFields(m: Manifest): EnvVar[] {
  const pkg = m.packages[0];
  if (pkg) return pkg.environmentVariables;
  return m.remotes[0]?.headers ?? [];
}

export function credentialSchema(m: Manifest): CredentialSchema {
  const fields = credentialFields(m).filter((e) => ENV_NAME.test(e.name) && !isReservedEnv(e.name));
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    type: "object",
    title: `Credentials for ${m.name.value}`,
    properties: Object.fromEntries(fields.map((e) => [e.name, property(e)])),
    required: fields.filter((e) => e.isRequired).map((e) => e.name),
    additionalProperties: false,
  };
}

function closest(name: string, options: string[]): string | undefined {
  const norm = (s: string) => s.toUpperCase().replace(/[^A-Z0-9]/g, "");
  return (
    options.find((o) => norm(o) === norm(name)) ??
    options.find((o) => norm(o).includes(norm(name)) || norm(name).includes(norm(o)))
  );
}

function checkValue(name: string, p: CredentialProperty, v: string): CredentialIssue | undefined {
  const what = p["x-catwalk-secret"] ? "The value" : `The value ${JSON.stringify(v.slice(0, 40))}`;
  if (v.length > p.maxLength)
    return { field: name, code: "invalid", message: `${name} is longer than ${p.maxLength} characters.` };
  if (v.includes("\0")) return { field: name, code: "invalid", message: `${name} contains a NUL byte.` };
  if (p.enum && !p.enum.includes(v))
    return {
      field: name,
      code: "invalid",
      message: `${what} of ${name} is not one of ${p.enum.join(", ")}.`,
    };
  if (p.pattern && !new RegExp(p.pattern).test(v)) {
    const kind = p["x-catwalk-format"] === "number" ? "a number" : `a value matching ${p.pattern}`;
    return { field: name, code: "invalid", message: `${what} of ${name} is not ${kind}.` };
  }
  return undefined;
}

/**
 * Checks values against a credential schema and names every problem: missing or empty required
 * fields, values outside enum/pattern, unknown or reserved names. Secret values are never quoted.
 */
export function validateCredentials(
  schema: CredentialSchema,
  values: Record<string, unknown>,
): CredentialCheck {
  const errors: CredentialIssue[] = [];
  const out: Record<string, string> = {};
  const known = Object.keys(schema.properties);
  for (const [name, raw] of Object.entries(values)) {
    const p = schema.properties[name];
    if (!ENV_NAME.test(name)) {
      errors.push({
        field: name.slice(0, 80),
        code: "invalid",
        message: `${JSON.stringify(name.slice(0, 80))} is not a valid environment variable name.`,
      });
      continue;
    }
    if (isReservedEnv(name)) {
      errors.push({
        field: name,
        code: "reserved",
        message: `${name} is reserved for the runtime and cannot be set.`,
      });
      continue;
    }
    if (!p) {
      const near = closest(name, known);
      errors.push({
        field: name,
        code: "unknown",
        message: `${name} is not a credential of this server${near ? `; did you mean ${near}?` : ` (known: ${known.join(", ") || "none"})`}.`,
      });
      continue;
    }
    if (typeof raw !== "string") {
      errors.push({ field: name, code: "not_string", message: `${name} must be a string.` });
      continue;
    }
    if (raw === "" && schema.required.includes(name)) {
      errors.push({ field: name, code: "empty", message: `${name} is required and must not be empty.` });
      continue;
    }
    const issue = checkValue(name, p, raw);
    if (issue) errors.push(issue);
    else out[name] = raw;
  }
  for (const name of schema.required) {
    if (!(name in values)) {
      const d = schema.properties[name]?.description;
      errors.push({ field: name, code: "missing", message: `${name} is required${d ? ` (${d})` : ""}.` });
    }
  }
  for (const [name, p] of Object.entries(schema.properties)) {
    if (!(name in out) && !(name in values) && p.default !== undefined) out[name] = p.default;
  }
  return { ok: errors.length === 0, errors, values: out };
}
