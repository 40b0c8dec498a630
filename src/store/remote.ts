import { messageOf } from "../util/error.ts";

/**
 * Why a remote libsql database (sqld, Turso) could not be opened, in words an operator can act on.
 * @libsql/client reports an HTTP 401 as `SERVER_ERROR: Server returned HTTP status 401`, Hrana
 * over WebSocket as `AUTH_*` codes, and network failures as Bun's `ECONNREFUSED`/`ENOTFOUND`/
 * `EPROTO` errors; none of them names the setting to fix. Never quotes the token.
 */
export function remoteOpenFailure(
  e: unknown,
  location: string,
  hasToken: boolean,
): { message: string; hint: string } | undefined {
  const code = String((e as { code?: unknown }).code ?? "");
  const text = `${code} ${messageOf(e)}`;
  const status = /HTTP status (\d{3})/.exec(text)?.[1];
  if (status === "401" || status === "403" || code.startsWith("AUTH_")) {
    return {
      message: hasToken
        ? `The libsql server at ${location} refused the auth token (${status ? `HTTP ${status}` : code}).`
        : `The libsql server at ${location} requires an auth token, and none is set.`,
      hint: "Set CATWALK_DATABASE_AUTH_TOKEN (config key databaseAuthToken) to a valid token for this database: `turso db tokens create <db>` for Turso, or a JWT signed with the key sqld was given by --auth-jwt-key-file.",
    };
  }
  if (/ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ETIMEDOUT|Unable to connect/i.test(text)) {
    return {
      message: `Cannot reach the libsql server at ${location} (${code || messageOf(e)}).`,
      hint: "Start the server (e.g. `sqld --db-path DIR --http-listen-addr 127.0.0.1:8080`) or fix CATWALK_DATABASE_URL; for Turso check the URL `turso db show <db> --url` prints.",
    };
  }
  if (/EPROTO|TLS|SSL|certificate/i.test(text)) {
    return {
      message: `The TLS handshake with the libsql server at ${location} failed (${code || messageOf(e)}).`,
      hint: "libsql:// and https:// URLs use TLS. A sqld without TLS is reached with http://HOST:PORT or libsql://HOST:PORT?tls=0.",
    };
  }
  if (status === "404") {
    return {
      message: `The server at ${location} answered HTTP 404: it does not look like a libsql server (or the database does not exist).`,
      hint: "Check CATWALK_DATABASE_URL: for Turso, the URL `turso db show <db> --url` prints; for sqld, its --http-listen-addr.",
    };
  }
  return undefined;
}
