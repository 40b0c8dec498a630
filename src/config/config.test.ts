import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../test/helpers/server.ts";
import { ConfigInvalidError, envName, leaves, loadConfig } from "./config.ts";

function fileWith(content: string, name = "config.json"): string {
  const path = join(tempDir(), name);
  writeFileSync(path, content);
  return path;
}

describe("config", () => {
  test("defaults bind loopback on port 7400 with a data dir under XDG_DATA_HOME", () => {
    const { config } = loadConfig({ env: { XDG_DATA_HOME: "/srv/xdg", HOME: "/home/op" } });
    expect(config.host).toBe("127.0.0.1");
    expect(config.port).toBe(7400);
    expect(config.dataDir).toBe("/srv/xdg/catwalk");
    expect(config.gateway.maxSessions).toBe(1000);
    expect(config.fly.apiUrl).toBe("https://api.machines.dev");
  });

  test("precedence is defaults < file < env < flags, and sources say where each value came from", () => {
    const file = fileWith(
      JSON.stringify({ port: 7000, host: "127.0.0.2", logLevel: "warn", fly: { region: "ams" } }),
    );
    const loaded = loadConfig({
      file,
      env: { CATWALK_PORT: "7100", CATWALK_LOG_LEVEL: "debug", HOME: "/h" },
      flags: { port: 7200 },
    });
    expect(loaded.config.port).toBe(7200);
    expect(loaded.config.logLevel).toBe("debug");
    expect(loaded.config.host).toBe("127.0.0.2");
    expect(loaded.config.fly.region).toBe("ams");
    expect(loaded.sources.get("port")).toBe("flag --port");
    expect(loaded.sources.get("logLevel")).toBe("env CATWALK_LOG_LEVEL");
    expect(loaded.sources.get("host")).toBe(`file ${file}`);
  });

  test("env names derive from key paths", () => {
    expect(envName("fly.apiUrl")).toBe("CATWALK_FLY_API_URL");
    expect(envName("github.apiUrl")).toBe("CATWALK_GITHUB_API_URL");
    expect(envName("anthropic.apiKey")).toBe("CATWALK_ANTHROPIC_API_KEY");
    expect(envName("databaseUrl")).toBe("CATWALK_DATABASE_URL");
    const names = leaves().map((l) => l.env);
    expect(new Set(names).size).toBe(names.length);
  });

  test("every key is documented", () => {
    for (const leaf of leaves()) expect(leaf.description, leaf.path).toBeTruthy();
  });

  test("env lists are comma-separated and numbers are coerced", () => {
    const { config } = loadConfig({
      env: {
        CATWALK_ALLOWED_ORIGINS: "https://a.example, https://b.example",
        CATWALK_GATEWAY_MAX_SESSIONS: "12",
      },
    });
    expect(config.allowedOrigins).toEqual(["https://a.example", "https://b.example"]);
    expect(config.gateway.maxSessions).toBe(12);
  });

  test("a non-numeric env port names the variable and the fix", () => {
    const error = (() => {
      try {
        loadConfig({ env: { CATWALK_PORT: "eighty" } });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigInvalidError);
    expect((error as ConfigInvalidError).message).toContain("CATWALK_PORT");
    expect((error as ConfigInvalidError).hint).toContain("CATWALK_PORT");
  });

  test("an out-of-range flag names the key, its source and the env variable", () => {
    try {
      loadConfig({ env: {}, flags: { port: 70000 } });
      throw new Error("expected a ConfigInvalidError");
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigInvalidError);
      const err = e as ConfigInvalidError;
      expect(err.message).toContain("port");
      expect(err.message).toContain("flag --port");
      expect(err.hint).toContain("CATWALK_PORT");
    }
  });

  test("unknown keys in the file are refused by name", () => {
    const file = fileWith(JSON.stringify({ prot: 1, fly: { regoin: "x" } }));
    expect(() => loadConfig({ file, env: {} })).toThrow("Unknown config keys: fly.regoin, prot.");
  });

  test("a file that is not JSON names the file and the syntax problem", () => {
    const file = fileWith("{ port: ");
    expect(() => loadConfig({ file, env: {} })).toThrow(new RegExp(`Config file ${file} is not valid JSON`));
  });

  test("TOML config files are read by extension", () => {
    const file = fileWith('port = 7301\n[fly]\nregion = "fra"\n', "catwalk.toml");
    const { config } = loadConfig({ file, env: {} });
    expect(config.port).toBe(7301);
    expect(config.fly.region).toBe("fra");
  });

  test("CATWALK_CONFIG points at the config file", () => {
    const file = fileWith(JSON.stringify({ port: 7555 }));
    expect(loadConfig({ env: { CATWALK_CONFIG: file } }).config.port).toBe(7555);
  });

  test("a missing explicit config file is an error, a missing default one is not", () => {
    expect(() => loadConfig({ file: "/nonexistent/catwalk.json", env: {} })).toThrow(
      /Cannot read config file/,
    );
    expect(loadConfig({ env: { XDG_CONFIG_HOME: tempDir() } }).file).toBeUndefined();
  });

  test("a public URL must be http(s)", () => {
    expect(() => loadConfig({ env: { CATWALK_PUBLIC_URL: "ftp://x.example" } })).toThrow(ConfigInvalidError);
    expect(loadConfig({ env: { CATWALK_PUBLIC_URL: "https://mcp.example.com" } }).config.publicUrl).toBe(
      "https://mcp.example.com",
    );
  });
});
