import { describe, expect, test } from "bun:test";
import { cleanName, redirectHost, redirectMatches, validateClientMetadata } from "./clients.ts";
import { OAuthError } from "./errors.ts";

function error(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e instanceof OAuthError ? e.error : "not an OAuthError";
  }
}

describe("redirect URI matching", () => {
  test("is exact for https and app schemes", () => {
    const registered = ["https://claude.ai/api/mcp/auth_callback", "com.example.app:/cb"];
    expect(redirectMatches(registered, "https://claude.ai/api/mcp/auth_callback")).toBe(true);
    expect(redirectMatches(registered, "https://claude.ai/api/mcp/auth_callback/")).toBe(false);
    expect(redirectMatches(registered, "https://claude.ai/api/mcp/auth_callback?x=1")).toBe(false);
    expect(redirectMatches(registered, "https://CLAUDE.ai/api/mcp/auth_callback")).toBe(false);
    expect(redirectMatches(registered, "com.example.app:/cb")).toBe(true);
    expect(redirectMatches(registered, "com.example.app:/other")).toBe(false);
  });

  test("lets loopback redirects change only the port (RFC 8252 §7.3)", () => {
    const registered = [
      "http://127.0.0.1/callback",
      "http://localhost:3334/oauth/callback",
      "http://[::1]:80/cb",
    ];
    expect(redirectMatches(registered, "http://127.0.0.1:51000/callback")).toBe(true);
    expect(redirectMatches(registered, "http://localhost:4000/oauth/callback")).toBe(true);
    expect(redirectMatches(registered, "http://[::1]:9999/cb")).toBe(true);
    expect(redirectMatches(registered, "http://127.0.0.1:51000/other")).toBe(false);
    expect(redirectMatches(registered, "http://localhost:51000/callback")).toBe(false);
    expect(redirectMatches(registered, "https://127.0.0.1:51000/callback")).toBe(false);
    expect(redirectMatches(registered, "http://127.0.0.2:51000/callback")).toBe(false);
  });

  test("shows hosts for https redirects and the scheme for app redirects", () => {
    expect(redirectHost("https://claude.ai/api/mcp/auth_callback")).toBe("claude.ai");
    expect(redirectHost("com.example.app:/cb")).toBe("com.example.app:");
  });
});

describe("client metadata validation", () => {
  test("infers native for loopback and app-scheme redirects and web otherwise", () => {
    expect(
      validateClientMetadata({ redirect_uris: ["http://127.0.0.1:1/cb"] }, { kind: "dcr" }).applicationType,
    ).toBe("native");
    expect(
      validateClientMetadata({ redirect_uris: ["com.example:/cb"] }, { kind: "dcr" }).applicationType,
    ).toBe("native");
    expect(
      validateClientMetadata({ redirect_uris: ["https://a.example/cb"] }, { kind: "dcr" }).applicationType,
    ).toBe("web");
  });

  test("defaults dynamic clients to client_secret_basic (RFC 7591) and URL clients to none", () => {
    expect(
      validateClientMetadata({ redirect_uris: ["https://a.example/cb"] }, { kind: "dcr" }).authMethod,
    ).toBe("client_secret_basic");
    expect(
      validateClientMetadata({ redirect_uris: ["https://a.example/cb"] }, { kind: "cimd" }).authMethod,
    ).toBe("none");
  });

  test("refuses what this server cannot honour", () => {
    const base = { redirect_uris: ["https://a.example/cb"] };
    expect(
      error(() =>
        validateClientMetadata({ ...base, token_endpoint_auth_method: "private_key_jwt" }, { kind: "dcr" }),
      ),
    ).toBe("invalid_client_metadata");
    expect(
      error(() => validateClientMetadata({ ...base, grant_types: ["client_credentials"] }, { kind: "dcr" })),
    ).toBe("invalid_client_metadata");
    expect(error(() => validateClientMetadata({ ...base, response_types: ["token"] }, { kind: "dcr" }))).toBe(
      "invalid_client_metadata",
    );
    expect(error(() => validateClientMetadata({ ...base, client_secret: "s" }, { kind: "cimd" }))).toBe(
      "invalid_client_metadata",
    );
    expect(
      error(() => validateClientMetadata({ redirect_uris: "https://a.example/cb" }, { kind: "dcr" })),
    ).toBe("invalid_client_metadata");
    expect(error(() => validateClientMetadata([], { kind: "dcr" }))).toBe("invalid_client_metadata");
    expect(
      error(() => validateClientMetadata({ redirect_uris: ["https://u:p@a.example/cb"] }, { kind: "dcr" })),
    ).toBe("invalid_redirect_uri");
  });

  test("keeps names printable and short", () => {
    expect(cleanName("Claude\u202e\u0000 Desktop\n")).toBe("Claude Desktop");
    expect(cleanName("x".repeat(500))?.length).toBe(100);
    expect(cleanName("\u200b")).toBeNull();
  });
});
