import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as o from "oauth4webapi";
import {
  completeConsent,
  type OAuthTestServer,
  openConsent,
  startOAuthTestServer,
  textOf,
} from "../../test/helpers/oauth.ts";
import { CimdFetcher, checkClientIdUrl } from "./cimd.ts";

const TLS = join(import.meta.dir, "..", "..", "test", "fixtures", "tls");
const CA_FILE = join(TLS, "localhost.crt");
const REDIRECT = "http://127.0.0.1:9/callback";
const ALPHA = { id: "dep_01ALPHA0000000000000000000", slug: "alpha", name: "Alpha" };
const insecure = { [o.allowInsecureRequests]: true } as const;

/** A client's https host serving metadata documents, with a self-signed certificate. */
let host: ReturnType<typeof Bun.serve>;
let base: string;
const hits = new Map<string, number>();
let flaky = 0;

function doc(path: string, extra: Record<string, unknown> = {}) {
  return { client_id: `${base}${path}`, client_name: "CIMD app", redirect_uris: [REDIRECT], ...extra };
}

beforeAll(() => {
  host = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    tls: {
      cert: readFileSync(join(TLS, "localhost.crt"), "utf8"),
      key: readFileSync(join(TLS, "localhost.key"), "utf8"),
    },
    async fetch(req) {
      const path = new URL(req.url).pathname;
      hits.set(path, (hits.get(path) ?? 0) + 1);
      const json = (body: unknown, headers: Record<string, string> = {}) =>
        Response.json(body, { headers: { "cache-control": "max-age=600", ...headers } });
      switch (path) {
        case "/client.json":
          return json(doc(path));
        case "/other.json":
          return json(doc(path, { client_name: "Other app" }));
        case "/redirect.json":
          return new Response(null, { status: 302, headers: { location: "/client.json" } });
        case "/big.json":
          return json(doc(path, { padding: "x".repeat(8000) }));
        case "/html.json":
          return new Response(JSON.stringify(doc(path)), { headers: { "content-type": "text/html" } });
        case "/mismatch.json":
          return json(doc("/client.json"));
        case "/secret.json":
          return json(doc(path, { token_endpoint_auth_method: "client_secret_basic" }));
        case "/web-loopback.json":
          return json(doc(path, { application_type: "web" }));
        case "/flaky.json":
          flaky++;
          return flaky === 1 ? new Response("oops", { status: 500 }) : json(doc(path));
        case "/slow.json":
          await Bun.sleep(1500);
          return json(doc(path));
        default:
          return new Response("not found", { status: 404 });
      }
    },
  });
  base = `https://127.0.0.1:${host.port}`;
});
afterAll(() => host.stop(true));

function fetcher(overrides: Partial<ConstructorParameters<typeof CimdFetcher>[0]> = {}) {
  return new CimdFetcher({
    allowPrivate: true,
    cacheSeconds: 3600,
    maxBytes: 4096,
    timeoutMs: 300,
    ca: readFileSync(CA_FILE, "utf8"),
    ...overrides,
  });
}

describe("Client ID Metadata Documents over the consent flow", () => {
  let srv: OAuthTestServer;
  beforeAll(async () => {
    srv = await startOAuthTestServer([ALPHA], {
      env: { CATWALK_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES: "true", CATWALK_OAUTH_CIMD_CA_FILE: CA_FILE },
    });
  });
  afterAll(() => srv.close());

  async function authorizationUrl(clientId: string, verifier: string, state: string) {
    return `${srv.url}/authorize?${new URLSearchParams({
      response_type: "code",
      client_id: clientId,
      redirect_uri: REDIRECT,
      code_challenge: await o.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
      state,
      resource: `${srv.url}/mcp/alpha`,
    })}`;
  }

  test("a URL client is fetched once, shown by name and host, and gets tokens without registering", async () => {
    const clientId = `${base}/client.json`;
    const as = await o.processDiscoveryResponse(
      new URL(srv.url),
      await o.discoveryRequest(new URL(srv.url), { algorithm: "oauth2", ...insecure }),
    );
    expect(as.client_id_metadata_document_supported).toBe(true);
    const verifier = o.generateRandomCodeVerifier();
    const opened = await openConsent(await authorizationUrl(clientId, verifier, "c1"));
    expect(opened.kind === "page" && opened.page.html).toContain("CIMD app");
    expect(opened.kind === "page" && opened.page.html).toContain(clientId);

    const callback = await completeConsent(await authorizationUrl(clientId, verifier, "c2"), {
      credential: srv.token,
    });
    const client = { client_id: clientId };
    const params = o.validateAuthResponse(as, client, callback, "c2");
    const tokens = await o.processAuthorizationCodeResponse(
      as,
      client,
      await o.authorizationCodeGrantRequest(as, client, o.None(), params, REDIRECT, verifier, insecure),
    );
    expect(
      await srv.oauth.verifyAccessToken(tokens.access_token, { resource: `${srv.url}/mcp/alpha` }),
    ).toMatchObject({
      ok: true,
      clientId,
    });
    expect(hits.get("/client.json")).toBe(1);
    const { clients } = (await (await srv.api("/api/deployments/alpha/oauth-clients")).json()) as {
      clients: { clientId: string; kind: string; clientName: string }[];
    };
    expect(clients).toContainEqual(
      expect.objectContaining({ clientId, kind: "cimd", clientName: "CIMD app" }),
    );
    const del = await srv.api(`/api/deployments/alpha/oauth-clients/${encodeURIComponent(clientId)}`, {
      method: "DELETE",
    });
    expect(await del.json()).toEqual({ revoked: 1 });
  });

  test("an unusable document is an error page for the user, never a redirect", async () => {
    const opened = await openConsent(
      await authorizationUrl(`${base}/secret.json`, o.generateRandomCodeVerifier(), "x"),
    );
    expect(opened.kind).toBe("page");
    if (opened.kind !== "page") return;
    expect(opened.page.status).toBe(400);
    expect(textOf(opened.page.html)).toContain("not supported for metadata-document clients");
  });

  test("a redirect URI the document does not list is refused", async () => {
    const url = (await authorizationUrl(`${base}/client.json`, o.generateRandomCodeVerifier(), "x")).replace(
      encodeURIComponent(REDIRECT),
      encodeURIComponent("https://evil.example/cb"),
    );
    const opened = await openConsent(url);
    expect(opened.kind === "page" && opened.page.status).toBe(400);
  });
});

describe("CIMD private addresses", () => {
  let srv: OAuthTestServer;
  beforeAll(async () => {
    srv = await startOAuthTestServer([ALPHA], { env: { CATWALK_OAUTH_CIMD_CA_FILE: CA_FILE } });
  });
  afterAll(() => srv.close());

  test("a client_id URL pointing at a private or loopback address is refused without fetching it", async () => {
    const before = hits.get("/other.json") ?? 0;
    const urls = [
      `${base}/other.json`,
      `https://localhost:${host.port}/other.json`,
      `https://[::1]:${host.port}/other.json`,
      `https://[::ffff:127.0.0.1]:${host.port}/other.json`,
      "https://169.254.169.254/latest/meta-data.json",
      "https://10.0.0.1/client.json",
      "https://[fd00::1]/client.json",
    ];
    for (const clientId of urls) {
      const opened = await openConsent(
        `${srv.url}/authorize?${new URLSearchParams({ response_type: "code", client_id: clientId, redirect_uri: REDIRECT })}`,
      );
      expect(opened.kind).toBe("page");
      if (opened.kind !== "page") continue;
      expect(opened.page.status).toBe(400);
      expect(textOf(opened.page.html)).toMatch(/resolves to a (loopback|private|link-local) address/);
    }
    expect(hits.get("/other.json") ?? 0).toBe(before);
  });
});

describe("CimdFetcher", () => {
  const cases: [string, string | RegExp][] = [
    ["/redirect.json", "redirect, which is not followed"],
    ["/big.json", "larger than 4096 bytes"],
    ["/html.json", "not served as application/json"],
    ["/mismatch.json", "does not equal its URL"],
    ["/web-loopback.json", '"web" client must use https'],
    ["/nothing.json", "HTTP 404"],
    ["/slow.json", "no answer within 300 ms"],
  ];
  for (const [path, message] of cases) {
    test(`refuses ${path.slice(1)}: ${message}`, async () => {
      await expect(fetcher().get(`${base}${path}`)).rejects.toThrow(message);
    });
  }

  test("refuses URLs that break the Client Identifier URL rules", () => {
    for (const id of [
      "http://example.com/client.json",
      "https://user:pw@example.com/c.json",
      "https://example.com",
      "https://example.com/a/../c.json",
      "https://example.com/a/%2e%2e/c.json",
      "https://example.com/c.json#x",
    ])
      expect(() => checkClientIdUrl(id), id).toThrow();
    expect(checkClientIdUrl("https://example.com/c.json").host).toBe("example.com");
  });

  test("does not trust a certificate the system does not know without the configured CA", async () => {
    await expect(fetcher({ ca: undefined }).get(`${base}/client.json`)).rejects.toThrow(
      "TLS or network error",
    );
  });

  test("does not cache failures: a document that failed once is fetched again", async () => {
    const f = fetcher();
    await expect(f.get(`${base}/flaky.json`)).rejects.toThrow("HTTP 500");
    const ok = await f.get(`${base}/flaky.json`);
    expect(ok.metadata.name).toBe("CIMD app");
    expect(ok.expiresAt - Date.now()).toBeGreaterThan(500_000);
    await f.get(`${base}/flaky.json`);
    expect(flaky).toBe(2);
  });

  test("a host name resolving to loopback is refused unless private addresses are allowed", async () => {
    await expect(
      fetcher({ allowPrivate: false }).address(new URL(`https://localhost:${host.port}/client.json`)),
    ).rejects.toThrow("loopback");
    expect(await fetcher().address(new URL(`https://localhost:${host.port}/client.json`))).toMatch(
      /^(127\.|::1)/,
    );
  });
});
