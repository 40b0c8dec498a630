import { chmodSync, copyFileSync, existsSync, linkSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./server.ts";

let built: string | undefined;

/**
 * The compiled binary for end-to-end tests: `CATWALK_TEST_BINARY` when CI built it already,
 * otherwise built once per test process from the current source into a temp dir.
 */
export function binary(): string {
  const given = Bun.env.CATWALK_TEST_BINARY;
  if (given && existsSync(given)) return given;
  if (built) return built;
  const out = join(tempDir("catwalk-bin-"), "catwalk");
  const res = Bun.spawnSync(
    [process.execPath, join(import.meta.dir, "..", "..", "scripts", "build.ts"), out],
    {
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  if (res.exitCode !== 0) throw new Error(`build failed:\n${res.stdout}\n${res.stderr}`);
  built = out;
  return out;
}

/**
 * The binary alone in an empty directory, as a user would run it. A hard link where the file
 * system allows it (the binary is ~120 MB and dozens of tests want one), else a copy.
 */
export function isolatedBinary(): { dir: string; bin: string } {
  const dir = tempDir("catwalk-empty-");
  const bin = join(dir, "catwalk");
  try {
    linkSync(binary(), bin);
  } catch {
    copyFileSync(binary(), bin);
  }
  chmodSync(bin, 0o755);
  return { dir, bin };
}

/** Waits until `<dataDir>/server.json` names the server's URL. */
export async function waitForServer(dataDir: string, timeoutMs = 15_000): Promise<string> {
  const file = join(dataDir, "server.json");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(file)) {
      try {
        const info = JSON.parse(await Bun.file(file).text()) as { url: string };
        const res = await fetch(`${info.url}/api/health`);
        if (res.ok) return info.url;
      } catch {
        // not up yet
      }
    }
    await Bun.sleep(50);
  }
  throw new Error(`server did not start within ${timeoutMs} ms (no ${file})`);
}
