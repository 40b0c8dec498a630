import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./server.ts";

/**
 * A dependency-free stdio MCP server (plain CommonJS) packed into the fake registry's tarballs:
 * initialize, tools/list and tools/call of its one tool `hello` (answers "hello").
 */
const SERVER_JS = `#!/usr/bin/env node
const rl = require("node:readline").createInterface({ input: process.stdin });
const send = (m) => process.stdout.write(JSON.stringify(m) + "\\n");
rl.on("line", (line) => {
  const m = JSON.parse(line);
  if (m.method === "initialize") {
    send({ jsonrpc: "2.0", id: m.id, result: { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: process.env.npm_fixture_name || "fake-npm-fixture", version: "1.0.0" } } });
  } else if (m.method === "tools/list") {
    send({ jsonrpc: "2.0", id: m.id, result: { tools: [{ name: "hello", inputSchema: { type: "object" } }] } });
  } else if (m.method === "tools/call" && m.params && m.params.name === "hello") {
    send({ jsonrpc: "2.0", id: m.id, result: { content: [{ type: "text", text: "hello" }] } });
  } else if (m.id !== undefined && m.method) {
    send({ jsonrpc: "2.0", id: m.id, error: { code: -32601, message: "no such method" } });
  }
});
rl.on("close", () => process.exit(0));
`;

export interface FakePackage {
  name: string;
  version: string;
  /** package.json `bin`; default `{ <unscoped name>: "server.js" }`. */
  bin?: string | Record<string, string>;
  /** More package.json fields (e.g. `mcpName`, `description`), in the tarball and the packument. */
  meta?: Record<string, unknown>;
  /** More files for the tarball (file name → contents), written last: may replace `server.js`. */
  files?: Record<string, string>;
}

export interface FakeRegistry {
  url: string;
  /** Request paths in arrival order. */
  requests: string[];
  /** Tarball downloads so far. */
  tarballs(): number;
  /** Makes tarball downloads hang (for timeout tests). */
  hangTarballs(on: boolean): void;
  stop(): void;
}

function pack(pkg: FakePackage): Buffer {
  const dir = tempDir("catwalk-fake-pkg-");
  const root = join(dir, "package");
  mkdirSync(root);
  const unscoped = pkg.name.slice(pkg.name.indexOf("/") + 1);
  const manifest = {
    ...pkg.meta,
    name: pkg.name,
    version: pkg.version,
    type: "commonjs",
    bin: pkg.bin ?? { [unscoped]: "server.js" },
  };
  writeFileSync(join(root, "package.json"), JSON.stringify(manifest, null, 2));
  writeFileSync(join(root, "server.js"), SERVER_JS, { mode: 0o755 });
  writeFileSync(join(root, "other.js"), SERVER_JS, { mode: 0o755 });
  for (const [file, text] of Object.entries(pkg.files ?? {}))
    writeFileSync(join(root, file), text, { mode: 0o755 });
  const res = Bun.spawnSync(["tar", "-czf", join(dir, "p.tgz"), "-C", dir, "package"]);
  if (res.exitCode !== 0) throw new Error(`tar failed: ${res.stderr}`);
  return readFileSync(join(dir, "p.tgz"));
}

/**
 * A fake npm registry over real HTTP: packuments at `/<name>` (scoped names `%2F`-encoded) and
 * tarballs at `/<name>/-/<file>.tgz`, with sha512 integrity, so `bun install` runs for real
 * against it without the network.
 */
export function fakeNpmRegistry(packages: FakePackage[]): FakeRegistry {
  const requests: string[] = [];
  let tarballs = 0;
  let hang = false;
  const files = new Map<string, Buffer>();
  const docs = new Map<string, Record<string, unknown>>();
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    async fetch(req) {
      const path = decodeURIComponent(new URL(req.url).pathname);
      requests.push(path);
      const file = files.get(path);
      if (file) {
        tarballs++;
        if (hang) await Bun.sleep(60_000);
        return new Response(new Uint8Array(file), {
          headers: { "content-type": "application/octet-stream" },
        });
      }
      const doc = docs.get(path.slice(1));
      return doc ? Response.json(doc) : Response.json({ error: "Not found" }, { status: 404 });
    },
  });
  const url = `http://127.0.0.1:${server.port}`;
  for (const pkg of packages) {
    const tgz = pack(pkg);
    const file = `/${pkg.name}/-/${pkg.name.slice(pkg.name.indexOf("/") + 1)}-${pkg.version}.tgz`;
    files.set(file, tgz);
    const integrity = `sha512-${new Bun.CryptoHasher("sha512").update(tgz).digest("base64")}`;
    const shasum = new Bun.CryptoHasher("sha1").update(tgz).digest("hex");
    const doc = docs.get(pkg.name) ?? { name: pkg.name, "dist-tags": {}, versions: {} };
    (doc["dist-tags"] as Record<string, string>).latest = pkg.version;
    (doc.versions as Record<string, unknown>)[pkg.version] = {
      ...pkg.meta,
      name: pkg.name,
      version: pkg.version,
      dist: { tarball: `${url}${file}`, integrity, shasum },
    };
    docs.set(pkg.name, doc);
  }
  return {
    url,
    requests,
    tarballs: () => tarballs,
    hangTarballs: (on) => {
      hang = on;
    },
    stop: () => server.stop(true),
  };
}
