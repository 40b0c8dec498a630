import { describe, expect, test } from "bun:test";
import type { CredentialSchema, Manifest } from "../../api.ts";
import {
  classify,
  defaultName,
  evidenceText,
  filledValues,
  issuesByField,
  localIssue,
  manifestRows,
} from "./model.ts";

describe("sources", () => {
  test("GitHub URLs and npm:/pypi: packages are analysed, other http(s) URLs are remote servers", () => {
    expect(classify("https://github.com/acme/weather-mcp")).toEqual({ kind: "github" });
    expect(classify("github.com/acme/weather-mcp/tree/main/src")).toEqual({ kind: "github" });
    expect(classify("npm:@modelcontextprotocol/server-everything")).toEqual({ kind: "package" });
    expect(classify(" pypi:mcp-server-fetch==1.0 ")).toEqual({ kind: "package" });
    expect(classify("https://mcp.example.com/mcp")).toEqual({ kind: "remote" });
    expect(classify("")).toHaveProperty("error");
    expect(classify("server-everything")).toHaveProperty("error");
  });

  test("the default name is short, a valid slug, and free", () => {
    const none = new Set<string>();
    expect(defaultName("npm:@modelcontextprotocol/server-everything@2026.8.31", none)).toBe(
      "server-everything",
    );
    expect(defaultName("pypi:Mcp_Server_Fetch==1.0", none)).toBe("mcp-server-fetch");
    expect(defaultName("https://github.com/acme/Weather.MCP", none)).toBe("weather-mcp");
    expect(defaultName("https://mcp.example.com/sse", none)).toBe("mcp");
    expect(defaultName("npm:weather", new Set(["weather", "weather-2"]))).toBe("weather-3");
  });
});

const ev = (file: string, line: number) => ({ kind: "file" as const, file, line });

const MANIFEST = {
  schemaVersion: 1,
  name: { value: "io.github.acme/weather", evidence: [ev("package.json", 2)], confidence: 0.9 },
  description: { value: "Weather", evidence: [], confidence: 0.5 },
  version: { value: "1.0.0", evidence: [], confidence: 0.9 },
  isMcpServer: {
    value: true,
    evidence: [{ kind: "registry", registry: "npm", note: "mcpName" }],
    confidence: 0.95,
  },
  packages: [
    {
      registryType: "npm",
      identifier: {
        value: "@acme/weather",
        evidence: [{ kind: "registry", registry: "npm" }],
        confidence: 0.95,
      },
      version: { value: "1.0.0", evidence: [], confidence: 0.95 },
      runtimeHint: "npx",
      transport: { type: "stdio" },
      packageArguments: [
        { argument: { type: "named", name: "--units", value: "metric" }, evidence: [], confidence: 0.6 },
      ],
      environmentVariables: [
        {
          name: "API_KEY",
          description: "the key",
          isRequired: true,
          isSecret: true,
          format: "string",
          evidence: [ev("README.md", 12), { kind: "claude", note: "says so" }],
          confidence: 0.8,
        },
      ],
    },
  ],
  remotes: [],
  tools: [
    { name: "forecast", declared: true, verified: true, evidence: [ev("src/index.ts", 9)], confidence: 1 },
  ],
  resources: [],
  prompts: [],
  analysis: { mode: "deterministic", filesRead: [] },
} as unknown as Manifest;

describe("manifest review", () => {
  test("every field comes with its confidence and evidence", () => {
    const rows = manifestRows(MANIFEST);
    expect(rows.map((r) => [r.label, r.value, r.confidence])).toEqual([
      ["Server", "io.github.acme/weather", 0.9],
      ["Package", "npm @acme/weather", 0.95],
      ["Version", "1.0.0", 0.95],
      ["Argument", "--units metric", 0.6],
      ["API_KEY *", "required, secret · the key", 0.8],
      ["Description", "Weather", 0.5],
      ["Tools", "1 (1 verified): forecast", 1],
      ["MCP server?", "yes", 0.95],
    ]);
    const key = rows.find((r) => r.label === "API_KEY *");
    expect(key?.evidence.map(evidenceText)).toEqual(["README.md:12", "Claude: says so"]);
    expect(rows.find((r) => r.label === "Tools")?.details).toEqual(["forecast 100% · src/index.ts:9"]);
  });
});

const SCHEMA: CredentialSchema = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  title: "Credentials",
  properties: {
    API_KEY: {
      type: "string",
      title: "API_KEY",
      maxLength: 100,
      minLength: 1,
      writeOnly: true,
      format: "password",
      "x-catwalk-format": "string",
      "x-catwalk-secret": true,
    },
    TTL: {
      type: "string",
      title: "TTL",
      maxLength: 100,
      pattern: "^-?[0-9]+(\\.[0-9]+)?$",
      default: "600",
      "x-catwalk-format": "number",
      "x-catwalk-secret": false,
    },
    MODE: {
      type: "string",
      title: "MODE",
      maxLength: 100,
      enum: ["a", "b"],
      "x-catwalk-format": "string",
      "x-catwalk-secret": false,
    },
  },
  required: ["API_KEY"],
  additionalProperties: false,
};

describe("credential form checks", () => {
  test("required, number and choice problems are found without the server", () => {
    expect(localIssue(SCHEMA, "API_KEY", "")).toBe("required");
    expect(localIssue(SCHEMA, "API_KEY", "x")).toBeUndefined();
    expect(localIssue(SCHEMA, "TTL", "")).toBeUndefined();
    expect(localIssue(SCHEMA, "TTL", "ten")).toBe("must be a number");
    expect(localIssue(SCHEMA, "MODE", "c")).toBe("one of a, b");
  });

  test("server issues land on their field; empty optional values are not sent", () => {
    expect(
      issuesByField(SCHEMA, [
        { field: "API_KEY", code: "invalid", message: "bad" },
        { field: "PATH", code: "reserved", message: "PATH is reserved." },
      ]),
    ).toEqual({ API_KEY: "bad", "": "PATH is reserved." });
    expect(filledValues({ API_KEY: "x", TTL: "" })).toEqual({ API_KEY: "x" });
  });
});
