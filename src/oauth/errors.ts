import { CatwalkError } from "../util/error.ts";

/** Error codes of RFC 6749 §5.2 / §4.1.2.1, RFC 7591 §3.2.2, RFC 8707 and RFC 7009. */
export type OAuthErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "unauthorized_client"
  | "unsupported_grant_type"
  | "unsupported_response_type"
  | "unsupported_token_type"
  | "invalid_scope"
  | "invalid_target"
  | "access_denied"
  | "server_error"
  | "temporarily_unavailable"
  | "invalid_redirect_uri"
  | "invalid_client_metadata"
  | "invalid_token";

const STATUS: Partial<Record<OAuthErrorCode, number>> = {
  invalid_client: 401,
  invalid_token: 401,
  server_error: 500,
  temporarily_unavailable: 503,
};

/**
 * A protocol error of the authorization server. Answered in OAuth's own format
 * (`{error, error_description}`), never in the `/api` envelope: OAuth clients parse exactly that.
 * Descriptions are fixed sentences; they never echo tokens, codes or secrets.
 */
export class OAuthError extends CatwalkError {
  readonly code: string;
  readonly status: number;

  constructor(
    readonly error: OAuthErrorCode,
    description: string,
    opts: { status?: number; hint?: string } = {},
  ) {
    super(description, opts.hint ? { hint: opts.hint } : {});
    this.code = `oauth.${error}`;
    this.status = opts.status ?? STATUS[error] ?? 400;
  }

  toOAuthBody(): { error: string; error_description: string } {
    return { error: this.error, error_description: this.message };
  }
}

/** Raised when OAuth cannot be served at all (disabled, or an issuer that is not https). */
export class OAuthUnavailableError extends CatwalkError {
  readonly code = "oauth.unavailable";
  readonly status = 503;
}

/** An `oauth.*` setting that cannot be used (the CLI exits 2 for it). */
export class OAuthConfigError extends CatwalkError {
  readonly code = "oauth.config_invalid";
  readonly status = 422;
}
