import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  type ConsentPage,
  type OAuthTestServer,
  openConsent,
  startOAuthTestServer,
  submitConsent,
  textOf,
} from "../../test/helpers/oauth.ts";

const REDIRECT = "http://127.0.0.1:9/callback";
const ALPHA = { id: "dep_01ALPHA0000000000000000000", slug: "alpha", name: "Alpha <b>tools</b>" };
const BETA = { id: "dep_01BETA00000000000000000000", slug: "beta", name: "Beta" };

let srv: OAuthTestServer;

beforeAll(async () => {
  srv = await startOAuthTestServer([ALPHA, BETA]);
});
afterAll(() => srv.close());

async function registerClient(name: string, redirect = REDIRECT): Promise<string> {
  const res = await fetch(`${srv.url}/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      redirect_uris: [redirect],
      token_endpoint_auth_method: "none",
      client_name: name,
    }),
  });
  return ((await res.json()) as { client_id: string }).client_id;
}

async function page(
  opts: { name?: string; state?: string; resource?: string | null; redirect?: string } = {},
): Promise<ConsentPage> {
  const redirect = opts.redirect ?? REDIRECT;
  const clientId = await registerClient(opts.name ?? "Consent test", redirect);
  const params = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirect,
    code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    code_challenge_method: "S256",
    state: opts.state ?? "st",
  });
  if (opts.resource !== null) params.set("resource", opts.resource ?? `${srv.url}/mcp/alpha`);
  const opened = await openConsent(`${srv.url}/authorize?${params}`);
  if (opened.kind !== "page")
    throw new Error(`expected a consent page, got a redirect to ${opened.location}`);
  return opened.page;
}

describe("consent page", () => {
  test("is clickjacking-safe, uncached, script-free and shows client, redirect host and deployment", async () => {
    const p = await page({ name: "Claude" });
    expect(p.status).toBe(200);
    const csp = p.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("form-action 'self' http://127.0.0.1:9");
    expect(p.headers.get("x-frame-options")).toBe("DENY");
    expect(p.headers.get("cache-control")).toBe("no-store");
    expect(p.headers.get("referrer-policy")).toBe("same-origin");
    expect(p.cookie).toMatch(/^cw_consent=/);
    expect(p.headers.get("set-cookie")).toContain("HttpOnly");
    expect(p.headers.get("set-cookie")).toContain("SameSite=Strict");
    expect(p.html).not.toContain("<script");
    expect(p.html).toContain("Claude");
    expect(p.html).toContain("127.0.0.1:9");
    expect(p.html).toContain("Alpha &lt;b&gt;tools&lt;/b&gt;");
    expect(p.html).toContain("<code>mcp</code>");
  });

  test("never reflects client-controlled input unescaped", async () => {
    const hostile = `"><script>alert(1)</script><img src=x onerror=alert(2)>`;
    const p = await page({ name: hostile, state: `"><script>alert(3)</script>` });
    expect(p.html).not.toContain("<script>");
    expect(p.html).not.toContain("<img");
    expect(p.html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(p.fields.state).toBe(`"><script>alert(3)</script>`);
  });

  test("approving with the admin token redirects back with code, state and iss", async () => {
    const p = await page({ state: "s-1" });
    const done = await submitConsent(p, { credential: srv.token });
    expect(done.kind).toBe("redirect");
    if (done.kind !== "redirect") return;
    expect(done.status).toBe(303);
    expect(done.location.origin + done.location.pathname).toBe(REDIRECT);
    expect(done.location.searchParams.get("code")).toStartWith("cwac_");
    expect(done.location.searchParams.get("state")).toBe("s-1");
    expect(done.location.searchParams.get("iss")).toBe(srv.url);
  });

  test("denying redirects with access_denied and issues no code", async () => {
    const p = await page({ state: "s-2" });
    const done = await submitConsent(p, { decision: "deny" });
    expect(done.kind === "redirect" && Object.fromEntries(done.location.searchParams)).toMatchObject({
      error: "access_denied",
      state: "s-2",
      iss: srv.url,
    });
    expect(done.kind === "redirect" && done.location.searchParams.has("code")).toBe(false);
  });

  test("a post without the consent cookie, or with a forged token, is refused and re-rendered", async () => {
    const p = await page();
    for (const input of [
      { cookie: null },
      { cookie: "cw_consent=forged" },
      { fields: { csrf: `${Date.now()}.AAAA` } },
    ]) {
      const done = await submitConsent(p, { credential: srv.token, ...input });
      expect(done.kind).toBe("page");
      if (done.kind !== "page") continue;
      expect(done.page.status).toBe(403);
      expect(textOf(done.page.html)).toContain("expired");
    }
  });

  test("a token lifted from one request does not approve a tampered one", async () => {
    const p = await page();
    const done = await submitConsent(p, {
      credential: srv.token,
      fields: { code_challenge: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
    });
    expect(done.kind === "page" && done.page.status).toBe(403);
  });

  test("a post from a foreign Origin is refused", async () => {
    const p = await page();
    const done = await submitConsent(p, { credential: srv.token, origin: "https://evil.example" });
    expect(done.kind === "page" && done.page.status).toBe(403);
    expect(done.kind === "page" && textOf(done.page.html)).toContain("another site");
  });

  test("a post with Origin: null is judged by the CSRF token alone", async () => {
    const p = await page();
    const ok = await submitConsent(p, { credential: srv.token, origin: "null" });
    expect(ok.kind).toBe("redirect");
    const forged = await submitConsent(await page(), { credential: srv.token, origin: "null", cookie: null });
    expect(forged.kind === "page" && forged.page.status).toBe(403);
  });

  test("a wrong credential re-renders with an error; connect codes of other deployments are refused", async () => {
    const p = await page();
    const wrong = await submitConsent(p, { credential: "cwadm_wrong" });
    expect(wrong.kind === "page" && wrong.page.status).toBe(401);
    expect(wrong.kind === "page" && textOf(wrong.page.html)).toBe("That admin token is not valid.");
    const code = (
      (await (await srv.api("/api/deployments/beta/connect-code", { method: "POST" })).json()) as {
        code: string;
      }
    ).code;
    const other = await submitConsent(p, { credential: code });
    expect(other.kind === "page" && textOf(other.page.html)).toContain("another deployment");
    const empty = await submitConsent(p, { credential: "" });
    expect(empty.kind === "page" && empty.page.status).toBe(400);
  });

  test("without a resource the page asks for the slug and refuses an unknown one", async () => {
    const p = await page({ resource: null });
    expect(p.html).toContain('name="deployment"');
    const unknown = await submitConsent(p, { credential: srv.token, deployment: "nope" });
    expect(unknown.kind === "page" && textOf(unknown.page.html)).toContain("no deployment with that slug");
    const ok = await submitConsent(p, { credential: srv.token, deployment: "beta" });
    expect(ok.kind).toBe("redirect");
  });

  test("wrong credentials are rate limited per address: then even the right token waits", async () => {
    const own = await startOAuthTestServer([ALPHA]);
    try {
      const clientId = (await (
        await fetch(`${own.url}/register`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" }),
        })
      ).json()) as { client_id: string };
      const url = `${own.url}/authorize?${new URLSearchParams({
        response_type: "code",
        client_id: clientId.client_id,
        redirect_uri: REDIRECT,
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        code_challenge_method: "S256",
        resource: `${own.url}/mcp/alpha`,
      })}`;
      const opened = await openConsent(url);
      if (opened.kind !== "page") throw new Error("expected a page");
      for (let i = 0; i < 10; i++) {
        const r = await submitConsent(opened.page, { credential: `ABCD-EFGH-${String(i).padStart(4, "0")}` });
        expect(r.kind === "page" && r.page.status).toBe(401);
      }
      const limited = await submitConsent(opened.page, { credential: own.token });
      expect(limited.kind === "page" && limited.page.status).toBe(429);
      expect(limited.kind === "page" && limited.page.headers.get("retry-after")).toMatch(/^\d+$/);
    } finally {
      await own.close();
    }
  });
});
