import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";

/**
 * Compact JWS with ES256 (ECDSA P-256, SHA-256, raw r||s signatures) on `node:crypto`. Only what
 * access tokens need: one algorithm, a `kid`, and a parser that refuses anything else.
 */
export const JWS_ALG = "ES256";

export interface SigningKeyPair {
  privatePem: string;
  publicJwk: JsonWebKey;
}

export function generateSigningKey(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = publicKey.export({ format: "jwk" });
  return {
    privatePem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    publicJwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y },
  };
}

export function privateKeyFromPem(pem: string): KeyObject {
  return createPrivateKey(pem);
}

export function publicKeyFromJwk(jwk: JsonWebKey): KeyObject {
  return createPublicKey({ key: jwk, format: "jwk" } as Parameters<typeof createPublicKey>[0]);
}

function b64(value: string | Buffer): string {
  return Buffer.from(value).toString("base64url");
}

export function signJws(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  key: KeyObject,
): string {
  const input = `${b64(JSON.stringify({ ...header, alg: JWS_ALG }))}.${b64(JSON.stringify(payload))}`;
  const signature = sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
  return `${input}.${b64(signature)}`;
}

export interface ParsedJws {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  input: string;
  signature: Buffer;
}

const SEGMENT = /^[A-Za-z0-9_-]+$/;

function decodeObject(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Splits and decodes a compact JWS without checking its signature; undefined when malformed. */
export function parseJws(token: string): ParsedJws | undefined {
  if (token.length > 8192) return undefined;
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  const [h, p, s] = parts as [string, string, string];
  if (!SEGMENT.test(h) || !SEGMENT.test(p) || !SEGMENT.test(s)) return undefined;
  const header = decodeObject(h);
  const payload = decodeObject(p);
  if (!header || !payload || header.alg !== JWS_ALG) return undefined;
  return { header, payload, input: `${h}.${p}`, signature: Buffer.from(s, "base64url") };
}

export function verifyJws(parsed: ParsedJws, key: KeyObject): boolean {
  if (parsed.signature.length !== 64) return false;
  return verify("sha256", Buffer.from(parsed.input), { key, dsaEncoding: "ieee-p1363" }, parsed.signature);
}
