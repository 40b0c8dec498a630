import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { rootCertificates } from "node:tls";
import { type ClientMetadata, validateClientMetadata } from "./clients.ts";
import { OAuthError } from "./errors.ts";
import { classifyAddress } from "./ssrf.ts";

/**
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-02): a client_id
 * that is an https URL names a JSON document with the client's metadata. Fetching a URL the
 * client chose is an SSRF risk, so the fetch:
 * - accepts https only, resolves DNS itself and refuses special-use addresses (loopback, private,
 *   link-local/metadata, ULA, …; `allowPrivate` lifts this for development), then connects to
 *   the checked address (SNI and certificate still name the host), so DNS rebinding between
 *   check and connect is impossible;
 * - follows no redirects, reads at most `maxBytes`, gives up after `timeoutMs`, wants JSON;
 * - requires `client_id` in the document to equal the URL, validates it like a registration;
 * - caches valid documents (Cache-Control max-age bounded to [60 s, cacheSeconds]), never errors,
 *   and shares one fetch between concurrent requests for the same URL.
 */
export interface CimdOptions {
  allowPrivate: boolean;
  cacheSeconds: number;
  maxBytes: number;
  timeoutMs: number;
  /** Extra trusted CA certificates (PEM), added to the system roots. */
  ca?: string | undefined;
}

export interface CimdClient {
  metadata: ClientMetadata;
  expiresAt: number;
}

export function isClientIdUrl(clientId: string): boolean {
  return clientId.startsWith("https://");
}

function fail(url: string, reason: string): OAuthError {
  return new OAuthError("invalid_client", `The client metadata document ${url} cannot be used: ${reason}`);
}

/** Checks the Client Identifier URL rules of draft §3. */
export function checkClientIdUrl(id: string): URL {
  let url: URL;
  try {
    url = new URL(id);
  } catch {
    throw fail(id, "the client_id is not a URL.");
  }
  if (url.protocol !== "https:") throw fail(id, "the client_id URL must use https.");
  if (url.username || url.password) throw fail(id, "the client_id URL must not contain user information.");
  if (id.includes("#")) throw fail(id, "the client_id URL must not contain a fragment.");
  const rest = id.slice("https://".length);
  const slash = rest.indexOf("/");
  if (slash < 0) throw fail(id, "the client_id URL must have a path.");
  const segments = (rest.slice(slash).split("?")[0] ?? "").split("/");
  if (segments.some((seg) => /^(\.|%2e){1,2}$/i.test(seg)))
    throw fail(id, "the client_id URL must not contain dot segments.");
  if (id.length > 2000) throw fail(id, "the client_id URL is too long.");
  return url;
}

function cacheSeconds(header: string | null, max: number): number {
  const maxAge = /(?:^|,)\s*max-age\s*=\s*(\d+)/i.exec(header ?? "");
  const noStore = /no-store|no-cache/i.test(header ?? "");
  const wanted = noStore ? 0 : maxAge ? Number(maxAge[1]) : max;
  return Math.min(Math.max(wanted, 60), max);
}

async function readCapped(res: Response, max: number, url: string): Promise<string> {
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > max) throw fail(url, `the document is larger than ${max} bytes.`);
  if (!res.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > max) {
      await res.body.cancel().catch(() => undefined);
      throw fail(url, `the document is larger than ${max} bytes.`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export class CimdFetcher {
  private readonly cache = new Map<string, CimdClient>();
  private readonly inflight = new Map<string, Promise<CimdClient>>();
  private readonly ca: string[] | undefined;

  constructor(private readonly opts: CimdOptions) {
    this.ca = opts.ca ? [...rootCertificates, opts.ca] : undefined;
  }

  /** The validated metadata of a URL client, from cache or freshly fetched. */
  async get(clientId: string): Promise<CimdClient> {
    const cached = this.cache.get(clientId);
    if (cached && cached.expiresAt > Date.now()) return cached;
    const running = this.inflight.get(clientId);
    if (running) return running;
    const job = this.fetch(clientId).finally(() => this.inflight.delete(clientId));
    this.inflight.set(clientId, job);
    return job;
  }

  /** Resolves the host and returns an address that may be contacted, or throws. */
  async address(url: URL): Promise<string> {
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    let addresses: string[];
    if (isIP(host)) addresses = [host];
    else {
      try {
        addresses = (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
      } catch {
        throw fail(url.href, `the host ${host} does not resolve.`);
      }
    }
    if (addresses.length === 0) throw fail(url.href, `the host ${host} does not resolve.`);
    for (const address of addresses) {
      const cls = classifyAddress(address);
      if (cls === "invalid" || (cls !== "public" && !this.opts.allowPrivate))
        throw fail(
          url.href,
          `the host resolves to a ${cls === "special" ? "special-use" : cls} address, which is refused (oauth.cimdAllowPrivateAddresses allows it for development).`,
        );
    }
    return addresses[0] as string;
  }

  private async fetch(clientId: string): Promise<CimdClient> {
    const url = checkClientIdUrl(clientId);
    const address = await this.address(url);
    const target = new URL(url.href);
    target.hostname = address.includes(":") ? `[${address}]` : address;
    let res: Response;
    try {
      res = await fetch(target, {
        headers: { host: url.host, accept: "application/json" },
        redirect: "manual",
        signal: AbortSignal.timeout(this.opts.timeoutMs),
        tls: {
          ...(isIP(url.hostname.replace(/^\[|\]$/g, "")) ? {} : { serverName: url.hostname }),
          ...(this.ca ? { ca: this.ca } : {}),
        },
      });
    } catch (e) {
      const timeout = (e as Error).name === "TimeoutError";
      throw fail(
        clientId,
        timeout ? `no answer within ${this.opts.timeoutMs} ms.` : "the fetch failed (TLS or network error).",
      );
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => undefined);
      throw fail(clientId, "the server answered with a redirect, which is not followed.");
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      throw fail(clientId, `the server answered HTTP ${res.status}.`);
    }
    const type = (res.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
    if (type !== "application/json" && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) {
      await res.body?.cancel().catch(() => undefined);
      throw fail(clientId, "the document is not served as application/json.");
    }
    const text = await readCapped(res, this.opts.maxBytes, clientId);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw fail(clientId, "the document is not valid JSON.");
    }
    if (typeof doc !== "object" || doc === null || (doc as { client_id?: unknown }).client_id !== clientId)
      throw fail(clientId, "the client_id in the document does not equal its URL.");
    let metadata: ClientMetadata;
    try {
      metadata = validateClientMetadata(doc, { kind: "cimd" });
    } catch (e) {
      throw e instanceof OAuthError ? fail(clientId, e.message) : e;
    }
    const entry = {
      metadata,
      expiresAt: Date.now() + cacheSeconds(res.headers.get("cache-control"), this.opts.cacheSeconds) * 1000,
    };
    this.cache.set(clientId, entry);
    if (this.cache.size > 1000) this.cache.delete(this.cache.keys().next().value as string);
    return entry;
  }
}
