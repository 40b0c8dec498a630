import { createHmac, randomBytes } from "node:crypto";
import { safeEqual } from "../util/secret.ts";

/**
 * The consent page: server-rendered HTML, no JavaScript, every value escaped. CSRF protection is
 * a double-submit cookie bound by HMAC to the exact authorization request: the hidden `csrf`
 * field is HMAC(key, nonce ‖ time ‖ request), the nonce travels in an HttpOnly SameSite=Strict
 * cookie, so a cross-site form can neither read the field nor send the cookie, and a field lifted
 * from one request does not validate another.
 */
export const CONSENT_PARAMS = [
  "response_type",
  "client_id",
  "redirect_uri",
  "state",
  "code_challenge",
  "code_challenge_method",
  "scope",
  "resource",
] as const;
export type ConsentParams = Partial<Record<(typeof CONSENT_PARAMS)[number], string>>;

const CSRF_MAX_AGE_MS = 30 * 60_000;

export function escapeHtml(value: string): string {
  return value
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

function canonical(params: ConsentParams): string {
  return JSON.stringify(CONSENT_PARAMS.map((k) => params[k] ?? ""));
}

function mac(key: Buffer, nonce: string, time: string, params: ConsentParams): string {
  return createHmac("sha256", key)
    .update(`consent\n${nonce}\n${time}\n${canonical(params)}`)
    .digest("base64url");
}

export function newNonce(): string {
  return randomBytes(18).toString("base64url");
}

export function csrfToken(key: Buffer, nonce: string, params: ConsentParams, now = Date.now()): string {
  const time = String(now);
  return `${time}.${mac(key, nonce, time, params)}`;
}

export function csrfValid(
  key: Buffer,
  nonce: string | undefined,
  token: string | undefined,
  params: ConsentParams,
  now = Date.now(),
): boolean {
  if (!nonce || !token) return false;
  const [time, sig] = token.split(".");
  if (!time || !sig || !/^\d{1,15}$/.test(time)) return false;
  const age = now - Number(time);
  if (age < 0 || age > CSRF_MAX_AGE_MS) return false;
  return safeEqual(sig, mac(key, nonce, time, params));
}

export interface ConsentView {
  params: ConsentParams;
  csrf: string;
  clientName: string | null;
  clientId: string;
  clientKind: "dcr" | "cimd";
  redirectHost: string;
  deployment: { name: string; slug: string } | undefined;
  scope: string;
  error?: string | undefined;
  /** Prefill of the deployment field after a failed attempt. */
  slug?: string | undefined;
}

const STYLE = `
body{font:15px/1.5 system-ui,sans-serif;background:#f6f6f4;color:#1d1d1b;margin:0;padding:2rem 1rem}
main{max-width:34rem;margin:0 auto;background:#fff;border:1px solid #ddd;border-radius:10px;padding:1.5rem 1.75rem}
h1{font-size:1.25rem;margin:0 0 1rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem;margin:0 0 1.25rem}
dt{color:#666}dd{margin:0;overflow-wrap:anywhere}
code{font:13px ui-monospace,monospace;background:#f1f1ee;padding:.1rem .3rem;border-radius:4px}
label{display:block;font-weight:600;margin:.9rem 0 .3rem}
input[type=password],input[type=text]{width:100%;box-sizing:border-box;padding:.5rem;font:inherit;border:1px solid #bbb;border-radius:6px}
.hint{color:#666;font-size:13px;margin:.25rem 0 0}
.warn{background:#fff7e0;border:1px solid #e8cf7a;border-radius:6px;padding:.5rem .75rem;font-size:13px}
.error{background:#fdecec;border:1px solid #e3a1a1;border-radius:6px;padding:.5rem .75rem;margin-bottom:1rem}
.actions{display:flex;gap:.75rem;margin-top:1.25rem}
button{font:inherit;padding:.55rem 1.1rem;border-radius:6px;border:1px solid #888;background:#fff;cursor:pointer}
button.primary{background:#1d1d1b;color:#fff;border-color:#1d1d1b}
`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>`;
}

export function renderConsent(view: ConsentView): string {
  const e = escapeHtml;
  const hidden = CONSENT_PARAMS.filter((k) => view.params[k] !== undefined)
    .map((k) => `<input type="hidden" name="${k}" value="${e(view.params[k] as string)}">`)
    .join("\n");
  const who = view.clientName ? e(view.clientName) : "An unnamed client";
  const selfNamed =
    view.clientKind === "dcr"
      ? `<p class="warn">The client chose its name itself. Approve only if you just started connecting it and the redirect host below is the one you expect.</p>`
      : `<p class="warn">This client is identified by the metadata document at <code>${e(view.clientId)}</code>; check that host before approving.</p>`;
  const target = view.deployment
    ? `<dd>${e(view.deployment.name)} <code>${e(view.deployment.slug)}</code></dd>`
    : "<dd>not named by the client: enter it below, or use its connect code</dd>";
  const slugField = view.deployment
    ? ""
    : `<label for="deployment">Deployment slug</label>
<input type="text" id="deployment" name="deployment" value="${e(view.slug ?? "")}" autocomplete="off" spellcheck="false">
<p class="hint">Not needed with a connect code: the code names its deployment.</p>`;
  const error = view.error ? `<p class="error" role="alert">${e(view.error)}</p>` : "";
  return page(
    "Connect a client to Catwalk",
    `<h1>${who} wants to use a Catwalk deployment</h1>
${error}
<dl>
<dt>Client</dt><dd>${who}</dd>
<dt>Client id</dt><dd><code>${e(view.clientId)}</code></dd>
<dt>Redirects to</dt><dd><code>${e(view.redirectHost)}</code></dd>
<dt>Deployment</dt>${target}
<dt>Access</dt><dd><code>${e(view.scope)}</code>: call this deployment's MCP tools, resources and prompts</dd>
</dl>
${selfNamed}
<form method="post" action="/authorize">
${hidden}
<input type="hidden" name="csrf" value="${e(view.csrf)}">
<label for="credential">Admin token or connect code</label>
<input type="password" id="credential" name="credential" autocomplete="off" spellcheck="false">
<p class="hint"><code>catwalk admin token</code> prints the admin token; <code>catwalk connect-code &lt;slug&gt;</code> makes a one-time code for one deployment.</p>
${slugField}
<div class="actions">
<button class="primary" type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</div>
</form>`,
  );
}

/** A terminal error page, for requests that must not be redirected back (unknown client, bad redirect URI). */
export function renderError(title: string, message: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>`);
}

/** Security headers of every HTML response; `formTarget` is where the consent form may redirect to. */
export function htmlHeaders(formTarget?: string): Record<string, string> {
  const formAction = ["'self'", formTarget].filter(Boolean).join(" ");
  return {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy": `default-src 'none'; style-src 'unsafe-inline'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    // Not no-referrer: under it browsers send `Origin: null` with the form post (Fetch §3.1).
    "referrer-policy": "same-origin",
  };
}

/**
 * The CSP source for the redirect after the form post: Chromium applies `form-action` to the
 * redirect that answers a form submission, so `'self'` alone would block the way back to the client.
 */
export function formTargetSource(redirectUri: string): string | undefined {
  try {
    const url = new URL(redirectUri);
    if (url.protocol === "http:" || url.protocol === "https:") return url.origin;
    return /^[a-z][a-z0-9+.-]*:$/i.test(url.protocol) ? url.protocol : undefined;
  } catch {
    return undefined;
  }
}
