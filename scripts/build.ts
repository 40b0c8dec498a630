/**
 * Builds the single executable: `bun run build` → dist/catwalk.
 *
 * Two rewrites make the binary self-contained (without them it works only next to node_modules,
 * which hides the defect when tested inside the repo):
 * - libsql picks its native addon with a computed `require(`@libsql/${target}`)`, which the bundler
 *   cannot follow; we pin it to the target's package so the `.node` file is embedded.
 * - Ink imports `react-devtools-core` for its dev mode; we resolve it to an empty module.
 * The binary also ignores `.env` and `bunfig.toml` in the directory it is started from.
 */
import { chmodSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const outfile = process.argv[2] ?? join(root, "dist", "catwalk");
const bunTarget = process.env.BUN_TARGET ?? "bun-linux-x64";
const libsqlTarget = process.env.LIBSQL_TARGET ?? defaultLibsqlTarget();

function defaultLibsqlTarget(): string {
  const arch = process.arch === "arm64" ? "arm64" : "x64";
  if (process.platform === "darwin") return `darwin-${arch}`;
  if (process.platform === "win32") return `win32-${arch}-msvc`;
  return `linux-${arch}-gnu`;
}

mkdirSync(join(outfile, ".."), { recursive: true });

const result = await Bun.build({
  entrypoints: [join(root, "src", "index.ts")],
  target: "bun",
  format: "esm",
  minify: true,
  bytecode: true,
  sourcemap: "none",
  define: { "process.env.NODE_ENV": '"production"', "process.env.DEV": '"false"' },
  compile: {
    target: bunTarget as Bun.Build.CompileTarget,
    outfile,
    autoloadDotenv: false,
    autoloadBunfig: false,
  },
  plugins: [
    {
      name: "catwalk-embed",
      setup(build) {
        build.onResolve({ filter: /^react-devtools-core$/ }, () => ({
          path: "react-devtools-core",
          namespace: "stub",
        }));
        build.onLoad({ filter: /.*/, namespace: "stub" }, () => ({
          contents: "export default {};",
          loader: "js",
        }));
        build.onLoad({ filter: /node_modules[\\/]libsql[\\/](index|promise)\.js$/ }, async (args) => {
          const source = await Bun.file(args.path).text();
          const pinned = source.replace(
            /require\(`@libsql\/\$\{target\}`\)/g,
            `require("@libsql/${libsqlTarget}")`,
          );
          if (pinned === source)
            throw new Error(`libsql loader changed shape in ${args.path}; update scripts/build.ts`);
          return { contents: pinned, loader: "js" };
        });
      },
    },
  ],
});

if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
chmodSync(outfile, 0o755);

const smoke = Bun.spawnSync([outfile, "--version"], { cwd: "/", env: { PATH: process.env.PATH ?? "" } });
if (smoke.exitCode !== 0) {
  console.error(
    `smoke test failed: ${outfile} --version exited ${smoke.exitCode}\n${smoke.stderr.toString()}`,
  );
  process.exit(1);
}
const size = (statSync(outfile).size / 1024 / 1024).toFixed(1);
console.log(
  `built ${outfile} (${size} MB, ${bunTarget}, libsql ${libsqlTarget}): ${smoke.stdout.toString().trim()}`,
);
