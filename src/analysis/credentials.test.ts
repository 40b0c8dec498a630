import { describe, expect, test } from "bun:test";
import { credentialSchema, validateCredentials } from "./credentials.ts";
import { manifestFromServerJson } from "./from-server-json.ts";

const manifest = manifestFromServerJson(
  {
    name: "io.github.acme/search",
    description: "Search",
    version: "2.1.0",
    packages: [
      {
        registryType: "npm",
        identifier: "@acme/search-mcp",
        version: "2.1.0",
        environmentVariables: [
          { name: "ACME_SEARCH_API_KEY", description: "API key", isRequired: true, isSecret: true },
          { name: "ACME_SEARCH_REGION", description: "Region", default: "us", choices: ["us", "eu"] },
          { name: "ACME_SEARCH_TIMEOUT", format: "number", default: "30" },
          { name: "ACME_SEARCH_SAFE", format: "boolean" },
          { name: "ACME_SEARCH_CACHE_DIR", format: "filepath", isRequired: true },
          { name: "PATH", description: "a server.json must not be able to ask for this" },
        ],
      },
    ],
  },
  "registry",
);

describe("credential schema", () => {
  const schema = credentialSchema(manifest);

  test("is a JSON Schema object with required, secret, format, pattern and description", () => {
    expect(schema).toEqual({
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      title: "Credentials for io.github.acme/search",
      properties: {
        ACME_SEARCH_API_KEY: {
          type: "string",
          title: "ACME_SEARCH_API_KEY",
          description: "API key",
          minLength: 1,
          maxLength: 32768,
          format: "password",
          writeOnly: true,
          "x-catwalk-format": "string",
          "x-catwalk-secret": true,
        },
        ACME_SEARCH_REGION: {
          type: "string",
          title: "ACME_SEARCH_REGION",
          description: "Region",
          default: "us",
          enum: ["us", "eu"],
          maxLength: 32768,
          "x-catwalk-format": "string",
          "x-catwalk-secret": false,
        },
        ACME_SEARCH_TIMEOUT: {
          type: "string",
          title: "ACME_SEARCH_TIMEOUT",
          default: "30",
          pattern: "^-?[0-9]+(\\.[0-9]+)?$",
          maxLength: 32768,
          "x-catwalk-format": "number",
          "x-catwalk-secret": false,
        },
        ACME_SEARCH_SAFE: {
          type: "string",
          title: "ACME_SEARCH_SAFE",
          enum: ["true", "false"],
          maxLength: 32768,
          "x-catwalk-format": "boolean",
          "x-catwalk-secret": false,
        },
        ACME_SEARCH_CACHE_DIR: {
          type: "string",
          title: "ACME_SEARCH_CACHE_DIR",
          minLength: 1,
          maxLength: 32768,
          "x-catwalk-format": "filepath",
          "x-catwalk-secret": false,
        },
      },
      required: ["ACME_SEARCH_API_KEY", "ACME_SEARCH_CACHE_DIR"],
      additionalProperties: false,
    });
  });

  test("valid values pass and absent optional fields get their defaults", () => {
    const check = validateCredentials(schema, {
      ACME_SEARCH_API_KEY: "sk-1",
      ACME_SEARCH_CACHE_DIR: "/tmp/c",
      ACME_SEARCH_SAFE: "true",
    });
    expect(check).toEqual({
      ok: true,
      errors: [],
      values: {
        ACME_SEARCH_API_KEY: "sk-1",
        ACME_SEARCH_CACHE_DIR: "/tmp/c",
        ACME_SEARCH_SAFE: "true",
        ACME_SEARCH_REGION: "us",
        ACME_SEARCH_TIMEOUT: "30",
      },
    });
  });

  test("names each missing or invalid field and never quotes a secret", () => {
    const check = validateCredentials(schema, {
      ACME_SEARCH_API_KEY: "",
      ACME_SEARCH_REGION: "mars",
      ACME_SEARCH_TIMEOUT: "soon",
      ACME_SEARCH_APIKEY: "sk-typo-SECRET",
      NODE_OPTIONS: "--require /tmp/evil.js",
      LD_PRELOAD: "/tmp/evil.so",
      "BAD NAME": "x",
      ACME_SEARCH_SAFE: 1,
    });
    expect(check.ok).toBe(false);
    expect(check.errors.map((e) => [e.field, e.code])).toEqual([
      ["ACME_SEARCH_API_KEY", "empty"],
      ["ACME_SEARCH_REGION", "invalid"],
      ["ACME_SEARCH_TIMEOUT", "invalid"],
      ["ACME_SEARCH_APIKEY", "unknown"],
      ["NODE_OPTIONS", "reserved"],
      ["LD_PRELOAD", "reserved"],
      ["BAD NAME", "invalid"],
      ["ACME_SEARCH_SAFE", "not_string"],
      ["ACME_SEARCH_CACHE_DIR", "missing"],
    ]);
    expect(check.errors.find((e) => e.field === "ACME_SEARCH_APIKEY")?.message).toContain(
      "did you mean ACME_SEARCH_API_KEY?",
    );
    expect(JSON.stringify(check.errors)).not.toContain("SECRET");
    expect(check.errors.find((e) => e.field === "ACME_SEARCH_REGION")?.message).toBe(
      'The value "mars" of ACME_SEARCH_REGION is not one of us, eu.',
    );
  });

  test("a secret's invalid value is not quoted in the error", () => {
    const s = credentialSchema(manifest);
    const key = s.properties.ACME_SEARCH_API_KEY;
    if (!key) throw new Error("missing");
    key.pattern = "^sk-";
    const check = validateCredentials(s, {
      ACME_SEARCH_API_KEY: "pk-LEAKED-VALUE",
      ACME_SEARCH_CACHE_DIR: "/c",
    });
    expect(check.errors[0]?.message).toBe("The value of ACME_SEARCH_API_KEY is not a value matching ^sk-.");
  });
});
