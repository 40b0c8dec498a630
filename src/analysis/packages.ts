import { isExactSemver, isNpmName, isPep440, isPypiName } from "../registry/names.ts";
import { PackageNotFoundError, VersionNotFoundError } from "../registry/npm.ts";
import type { GitHubRepo } from "../registry/provenance.ts";
import { checkNpm, checkPypi, type PackageCheck, type RegistryEndpoints } from "../registry/validate.ts";
import { CatwalkError, messageOf } from "../util/error.ts";
import type { Evidence, Manifest, ManifestPackage, PackageCheckView } from "./manifest.ts";

/**
 * The validating step for packages: each package must exist in its registry, its version must
 * resolve to one exact version (the repository's version when it is published, else the latest),
 * and its declared repository must be the analysed one. Results land in `package.check` and in
 * warnings; a package that does not exist stays in the manifest, marked, and cannot be deployed.
 */
export function registryEvidence(kind: "npm" | "pypi", note: string): Evidence {
  return { kind: "registry", registry: kind, note };
}

export function checkView(c: PackageCheck): PackageCheckView {
  return {
    exists: true,
    resolvedVersion: c.version,
    ...(c.latest ? { latest: c.latest } : {}),
    ...(c.deprecated ? { deprecated: c.deprecated } : {}),
    ...(c.yanked ? { yanked: c.yanked } : {}),
    ...(c.declaredRepository ? { declaredRepository: c.declaredRepository } : {}),
    provenance: c.provenance,
  };
}

function pickBin(pkg: ManifestPackage, bins: Record<string, string>): string | undefined {
  const keys = Object.keys(bins);
  if (keys.length === 0) return undefined;
  if (pkg.bin && keys.includes(pkg.bin.value)) return pkg.bin.value;
  const short = pkg.identifier.value.replace(/^@[^/]+\//, "");
  return keys.length === 1
    ? keys[0]
    : (keys.find((k) => k === short) ?? keys.find((k) => /mcp/i.test(k)) ?? keys[0]);
}

async function check(
  pkg: ManifestPackage,
  version: string | undefined,
  expected: GitHubRepo | undefined,
  ep: RegistryEndpoints,
) {
  return pkg.registryType === "npm"
    ? checkNpm(pkg.identifier.value, version, expected, ep)
    : checkPypi(pkg.identifier.value, version, expected, ep);
}

function exact(pkg: ManifestPackage): string | undefined {
  const v = pkg.version.value;
  if (!v) return undefined;
  return (pkg.registryType === "npm" ? isExactSemver(v) : isPep440(v)) ? v : undefined;
}

async function validateOne(
  pkg: ManifestPackage,
  expected: GitHubRepo | undefined,
  ep: RegistryEndpoints,
  warnings: string[],
): Promise<void> {
  const kind = pkg.registryType;
  const name = pkg.identifier.value;
  const wanted = exact(pkg);
  let c: PackageCheck;
  try {
    c = await check(pkg, wanted, expected, ep);
  } catch (e) {
    if (e instanceof VersionNotFoundError && wanted) {
      c = await check(pkg, undefined, expected, ep);
      warnings.push(
        `${kind} ${name}@${wanted} (the version in the repository) is not published; using ${c.version}, the latest release.`,
      );
    } else {
      if (!(e instanceof CatwalkError)) throw e;
      const missing = e instanceof PackageNotFoundError;
      pkg.check = {
        exists: false,
        provenance: "not_checked",
        error: missing ? `${kind} package ${name} does not exist` : `could not check: ${messageOf(e)}`,
      };
      warnings.push(
        missing
          ? `The ${kind} package ${name} does not exist; it is not published (yet), so it cannot be deployed.`
          : `The ${kind} package ${name} could not be checked: ${messageOf(e)}`,
      );
      return;
    }
  }
  warnings.push(...c.warnings);
  const agrees = wanted === c.version;
  pkg.version = {
    value: c.version,
    evidence: [
      ...(agrees ? pkg.version.evidence : []),
      registryEvidence(kind, `resolved ${c.how} to ${c.version}`),
    ],
    confidence: agrees ? Math.max(pkg.version.confidence, 0.99) : 0.95,
  };
  pkg.identifier.evidence.push(registryEvidence(kind, `exists; provenance ${c.provenance}`));
  pkg.identifier.confidence = Math.max(pkg.identifier.confidence, c.provenance === "match" ? 0.99 : 0.8);
  if (c.provenance === "mismatch") pkg.identifier.confidence = Math.min(pkg.identifier.confidence, 0.3);
  const bin = pickBin(pkg, c.bin);
  if (bin && bin !== pkg.bin?.value)
    pkg.bin = {
      value: bin,
      evidence: [registryEvidence(kind, "bin of the published version")],
      confidence: 0.95,
    };
  pkg.check = checkView(c);
}

export async function validatePackages(
  m: Manifest,
  expected: GitHubRepo | undefined,
  ep: RegistryEndpoints,
): Promise<string[]> {
  const warnings: string[] = [];
  m.packages = m.packages.filter((p) => {
    const ok = p.registryType === "npm" ? isNpmName(p.identifier.value) : isPypiName(p.identifier.value);
    if (!ok)
      warnings.push(
        `The package name ${JSON.stringify(p.identifier.value.slice(0, 80))} is not a valid ${p.registryType} name; it was removed.`,
      );
    return ok;
  });
  for (const pkg of m.packages) await validateOne(pkg, expected, ep, warnings);
  const first = m.packages[0];
  if (first?.check?.exists && m.version.confidence < 0.9) m.version = { ...first.version };
  return warnings;
}
