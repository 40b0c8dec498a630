import { describe, expect, test } from "bun:test";
import { dirname, join, relative } from "node:path";

/**
 * The module rules of context/ARCHITECTURE.md, checked on the real sources. Only runtime imports
 * count: Bun's scanner leaves out `import type`, which is erased at build time.
 */
const root = join(import.meta.dir, "..");
const ts = new Bun.Transpiler({ loader: "ts" });
const tsx = new Bun.Transpiler({ loader: "tsx" });

interface Source {
  file: string;
  folder: string;
  code: string;
  imports: string[];
}

async function sources(): Promise<Source[]> {
  const out: Source[] = [];
  for await (const file of new Bun.Glob("src/**/*.{ts,tsx}").scan(root)) {
    if (/\.test\.tsx?$/.test(file)) continue;
    // Macros run at bundle time; the scanner only needs to see the import, not run it.
    const text = (await Bun.file(join(root, file)).text()).replaceAll('with { type: "macro" }', "");
    const t = file.endsWith(".tsx") ? tsx : ts;
    const imports = t
      .scanImports(text)
      .map((i) => i.path)
      .filter((p) => p.startsWith("."))
      .map((p) => relative("src", join(dirname(file), p)).split("/")[0] as string);
    out.push({ file, folder: file.split("/")[1] as string, code: t.transformSync(text), imports });
  }
  return out;
}

const all = await sources();

describe("module rules", () => {
  test("the sources were found", () => {
    expect(all.length).toBeGreaterThan(100);
  });

  test("only src/config/env.ts reads process.env", () => {
    const readers = all.filter((s) => /\bprocess\.env\b/.test(s.code)).map((s) => s.file);
    expect(readers).toEqual(["src/config/env.ts"]);
  });

  test("the TUI reaches the server only through the HTTP client, never the store or the app", () => {
    const allowed = new Set(["tui", "client", "util"]);
    const wrong = all
      .filter((s) => s.folder === "tui")
      .flatMap((s) => s.imports.filter((i) => !allowed.has(i)).map((i) => `${s.file} -> ${i}`));
    expect(wrong).toEqual([]);
  });

  test("domain modules never import the CLI, the HTTP server, the TUI or the app wiring", () => {
    const outer = new Set(["cli", "server", "tui", "app"]);
    const wrong = all
      .filter((s) => !outer.has(s.folder) && s.folder !== "index.ts")
      .flatMap((s) => s.imports.filter((i) => outer.has(i)).map((i) => `${s.file} -> ${i}`));
    expect(wrong).toEqual([]);
  });
});
