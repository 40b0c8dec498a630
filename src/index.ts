import { main } from "./cli/main.ts";

const code = await main(process.argv.slice(2));
// Let stdout drain before exiting; long-running commands (serve, tui) return only when done.
process.exitCode = code;
if (code !== 0 || !["serve", "tui", "bridge"].includes(process.argv[2] ?? ""))
  setTimeout(() => process.exit(code), 0).unref();
