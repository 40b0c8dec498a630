import { describe, expect, test } from "bun:test";
import { fromCode } from "./code.ts";
import { fromPackageJson, fromSmithery } from "./manifests.ts";
import { fromReadme, stripHtmlComments } from "./readme.ts";

const file = (path: string, text: string) => ({ path, text, size: text.length });

describe("README extraction", () => {
  test("tables with ✅/❌ columns, variables in backticks, defaults and descriptions", () => {
    const f = fromReadme(
      file(
        "README.md",
        [
          "## Environment",
          "",
          "| Name | Description | Required | Default |",
          "|:-----|-------------|:--------:|---------|",
          "| `SLACK_BOT_TOKEN` | Bot token (xoxb-…) | ✅ | |",
          "| `SLACK_TEAM_ID` | Workspace id | ✅ | - |",
          "| `SLACK_CHANNEL_IDS` | Channels to expose | ❌ | `all` |",
          "| timeout | not an env var | no | 5 |",
        ].join("\n"),
      ),
    );
    expect(f.env?.map((e) => [e.name, e.required, e.default, e.description, e.loc.line])).toEqual([
      ["SLACK_BOT_TOKEN", true, undefined, "Bot token (xoxb-…)", 5],
      ["SLACK_TEAM_ID", true, undefined, "Workspace id", 6],
      ["SLACK_CHANNEL_IDS", false, "all", "Channels to expose", 7],
    ]);
  });

  test("client config blocks give the package, constant arguments and variables", () => {
    const f = fromReadme(
      file(
        "README.md",
        [
          "```jsonc",
          "{",
          '  "mcpServers": {',
          '    "fs": {',
          '      "command": "npx",',
          '      "args": ["-y", "@acme/fs-mcp@2.0.1", "stdio", "--root", "/Users/me/projects", "--read-only"],',
          "      // comments and trailing commas are common in READMEs",
          '      "env": { "FS_TOKEN": "<your token>", },',
          "    }",
          "  }",
          "}",
          "```",
        ].join("\n"),
      ),
    );
    expect(f.packages?.[0]).toMatchObject({
      registryType: "npm",
      identifier: "@acme/fs-mcp",
      version: "2.0.1",
      source: "readme-config",
      args: [
        { type: "positional", value: "stdio" },
        {
          type: "named",
          name: "--root",
          isRequired: true,
          description: "Value for --root (example: /Users/me/projects)",
        },
        { type: "named", name: "--read-only" },
      ],
    });
    expect(f.env?.map((e) => [e.name, e.loc.line, e.note])).toEqual([
      ["FS_TOKEN", 8, "in the example client config"],
    ]);
  });

  test("uvx --from, pip install and exported variables in shell blocks", () => {
    const f = fromReadme(
      file(
        "README.md",
        [
          "```bash",
          "export GRAFANA_URL=https://grafana.example.com",
          "uvx --from mcp-grafana==0.4.1 mcp-grafana-server",
          "pip install other-thing",
          "```",
        ].join("\n"),
      ),
    );
    expect(f.packages?.map((p) => [p.registryType, p.identifier, p.version, p.bin])).toEqual([
      ["pypi", "mcp-grafana", "0.4.1", "mcp-grafana-server"],
      ["pypi", "other-thing", undefined, undefined],
    ]);
    expect(f.env?.map((e) => e.name)).toEqual(["GRAFANA_URL"]);
  });

  test("prose bullets give required, default and description; HTML comments are ignored", () => {
    const f = fromReadme(
      file(
        "README.md",
        [
          "## Configuration",
          "- `JIRA_URL` (required): base URL of your Jira site",
          "- `JIRA_TIMEOUT` - optional, request timeout. Defaults to `30`.",
          "<!-- set `SECRET_BACKDOOR_TOKEN` too -->",
          "Run `npx @modelcontextprotocol/inspector` to debug.",
        ].join("\n"),
      ),
    );
    expect(f.env?.map((e) => [e.name, e.required, e.default, e.description])).toEqual([
      ["JIRA_URL", true, undefined, "base URL of your Jira site"],
      ["JIRA_TIMEOUT", false, "30", "optional, request timeout. Defaults to `30`."],
    ]);
    expect(f.packages).toEqual([]);
    expect(stripHtmlComments("a<!--x\ny-->b")).toBe("a     \n    b");
  });
});

describe("code extraction", () => {
  test("JS reads with defaults and fail-fast guards; SDK registrations", () => {
    const f = fromCode(
      file(
        "src/index.ts",
        [
          'import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";',
          "const key = process.env.SERP_API_KEY;",
          "if (!key) {",
          '  throw new Error("SERP_API_KEY missing");',
          "}",
          'const engine = process.env["SERP_ENGINE"] || "google";',
          "const debug = process.env.NODE_ENV;",
          'server.tool("search", "Search the web", {}, async () => ({ content: [] }));',
          'server.registerPrompt("summarize", { description: "Summarize results" }, async () => ({ messages: [] }));',
        ].join("\n"),
      ),
    );
    expect(f.env?.map((e) => [e.name, e.required, e.default, e.loc.line])).toEqual([
      ["SERP_API_KEY", true, undefined, 2],
      ["SERP_ENGINE", false, "google", 6],
    ]);
    expect(f.items?.map((i) => [i.kind, i.name, i.description])).toEqual([
      ["tool", "search", "Search the web"],
      ["prompt", "summarize", "Summarize results"],
    ]);
    expect(f.signals?.length).toBe(1);
  });

  test("Python environ reads and FastMCP decorators with docstrings", () => {
    const f = fromCode(
      file(
        "server.py",
        [
          "import os",
          "from fastmcp import FastMCP",
          'TOKEN = os.environ["TODOIST_TOKEN"]',
          'PAGE = os.environ.get("TODOIST_PAGE_SIZE", "50")',
          'PROXY = os.getenv("HTTPS_PROXY")',
          'mcp = FastMCP("todo")',
          '@mcp.tool(name="add_task")',
          "def add(content: str) -> str:",
          '    """Add a task."""',
        ].join("\n"),
      ),
    );
    expect(f.env?.map((e) => [e.name, e.required, e.default])).toEqual([
      ["TODOIST_TOKEN", true, undefined],
      ["TODOIST_PAGE_SIZE", false, "50"],
      ["HTTPS_PROXY", undefined, undefined],
    ]);
    expect(f.items?.map((i) => [i.name, i.description])).toEqual([["add_task", "Add a task."]]);
  });
});

describe("manifest files", () => {
  test("package.json: the one bin of several that names the package, MCP dependencies, mcpName", () => {
    const f = fromPackageJson(
      file(
        "package.json",
        JSON.stringify(
          {
            name: "@x/mcp-server-y",
            version: "1.0.0",
            mcpName: "io.github.x/y",
            bin: { "y-cli": "a.js", "mcp-server-y": "b.js" },
            dependencies: { fastmcp: "^3" },
          },
          null,
          2,
        ),
      ),
    );
    expect(f.packages?.[0]).toMatchObject({
      identifier: "@x/mcp-server-y",
      version: "1.0.0",
      bin: "mcp-server-y",
    });
    expect(f.meta?.find((m) => m.field === "name")?.value).toBe("io.github.x/y");
    expect(f.signals?.map((s) => s.note)).toEqual([
      "depends on fastmcp",
      "declares mcpName",
      "package name mentions MCP",
    ]);
  });

  test("smithery.yaml: configSchema properties mapped to variables by commandFunction", () => {
    const f = fromSmithery(
      file(
        "smithery.yaml",
        [
          "startCommand:",
          "  type: stdio",
          "  configSchema:",
          "    type: object",
          "    required: [apiKey]",
          "    properties:",
          "      apiKey:",
          "        type: string",
          "      maxResults:",
          "        type: integer",
          "        default: 10",
          "      verbose:",
          "        type: boolean",
          "  commandFunction: |-",
          "    (config) => ({ command: 'node', args: ['dist/index.js', config.verbose ? '--verbose' : ''], env: { EXA_API_KEY: config.apiKey, EXA_MAX: config.maxResults } })",
        ].join("\n"),
      ),
    );
    expect(f.env?.map((e) => [e.name, e.required, e.default, e.format, e.loc.line])).toEqual([
      ["EXA_API_KEY", true, undefined, "string", 7],
      ["EXA_MAX", false, "10", "number", 9],
    ]);
    expect(f.warnings?.[0]).toContain("verbose");
  });
});
