import { isExactSemver, isNpmName, isPep440, isPypiName, isSafeArg } from "../registry/names.ts";
import type { ServerArgument } from "../registry/server-json.ts";
import type { UpstreamSpec } from "../runtime/types.ts";
import { CatwalkError } from "../util/error.ts";
import type { Manifest } from "./manifest.ts";

/**
 * From a manifest to what a runtime runs. Everything that reaches a command line is checked again
 * here with the strict validators (names, exact versions, bin, constant arguments), whoever wrote
 * the manifest, so a tampered or hand-edited manifest cannot smuggle shell syntax into argv.
 */
export class ManifestNotDeployableError extends CatwalkError {
  readonly code = "analysis.not_deployable";
  readonly status = 422;
}

function argv(args: ServerArgument[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    if (a.type === "named") {
      if (!isSafeArg(a.name) || !a.name.startsWith("-"))
        throw unsafe(`argument name ${JSON.stringify(a.name)}`);
      if (a.value === undefined && a.isRequired) throw needsValue(a.name);
      out.push(a.name);
      if (a.value !== undefined) {
        if (!isSafeArg(a.value) || /\{[^}]*\}/.test(a.value)) throw unsafe(`value of ${a.name}`);
        out.push(a.value);
      }
      continue;
    }
    if (a.value === undefined) {
      if (a.isRequired) throw needsValue(a.valueHint ?? "a positional argument");
      continue;
    }
    if (!isSafeArg(a.value) || /\{[^}]*\}/.test(a.value))
      throw unsafe(`positional argument ${JSON.stringify(a.value.slice(0, 40))}`);
    out.push(a.value);
  }
  return out;
}

function unsafe(what: string): ManifestNotDeployableError {
  return new ManifestNotDeployableError(`The manifest's ${what} is not a safe constant command-line value.`, {
    hint: "Arguments may contain only letters, digits and @%+=:,./_- ; edit the manifest or re-analyse.",
  });
}

function needsValue(name: string): ManifestNotDeployableError {
  return new ManifestNotDeployableError(
    `The server needs a value for ${name}, which the manifest does not provide.`,
    {
      hint: "Deploy it with an explicit value for this argument.",
    },
  );
}

/**
 * The `UpstreamSpec` of a manifest's first package (or, without packages, its first remote with
 * header values from `values`). Throws `ManifestNotDeployableError` naming what is missing.
 */
export function manifestToUpstreamSpec(m: Manifest, values: Record<string, string> = {}): UpstreamSpec {
  if (!m.isMcpServer.value) {
    throw new ManifestNotDeployableError(`${m.name.value} is not an MCP server according to its analysis.`, {
      hint: "Check the source; for a monorepo, analyse the folder that holds the server.",
    });
  }
  const pkg = m.packages[0];
  if (!pkg) {
    const remote = m.remotes[0];
    if (!remote) {
      throw new ManifestNotDeployableError(
        `The analysis of ${m.name.value} found no npm or PyPI package and no remote endpoint.`,
        {
          hint: "Publish the server as a package, or analyse its npm:/pypi: package directly.",
        },
      );
    }
    if (!/^https:\/\//.test(remote.url) || /\{[^}]*\}/.test(remote.url)) throw unsafe("remote URL");
    const headers: Record<string, string> = {};
    for (const h of remote.headers)
      if (values[h.name] !== undefined) headers[h.name] = values[h.name] as string;
    return { kind: "remote", url: remote.url, headers };
  }
  const id = pkg.identifier.value;
  const version = pkg.version.value;
  if (pkg.check && !pkg.check.exists) {
    throw new ManifestNotDeployableError(
      `The ${pkg.registryType} package ${id} could not be validated: ${pkg.check.error ?? "unknown"}.`,
      {
        hint: "Re-analyse once the package is published and the registry is reachable.",
      },
    );
  }
  const args = argv(pkg.packageArguments.map((a) => a.argument));
  const bin = pkg.bin?.value;
  if (bin !== undefined && !isSafeArg(bin)) throw unsafe("bin");
  if (pkg.registryType === "npm") {
    if (!isNpmName(id)) throw unsafe(`npm package name ${JSON.stringify(id.slice(0, 80))}`);
    if (!isExactSemver(version))
      throw new ManifestNotDeployableError(`npm ${id} has no exact version (${JSON.stringify(version)}).`, {
        hint: "Re-analyse so the version is resolved against the registry.",
      });
    return { kind: "npm", package: id, version, bin, args };
  }
  if (!isPypiName(id)) throw unsafe(`PyPI project name ${JSON.stringify(id.slice(0, 80))}`);
  if (!isPep440(version))
    throw new ManifestNotDeployableError(`PyPI ${id} has no exact version (${JSON.stringify(version)}).`, {
      hint: "Re-analyse so the version is resolved against PyPI.",
    });
  return { kind: "pypi", package: id, version, entry: bin, args };
}
