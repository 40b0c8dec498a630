import { main } from "./cli/main.ts";

const code = await main(process.argv.slice(2));
// Let stdout drain before exiting; serve and bridge return only when done (their children may still
// be stopping). The TUI is over when it returns, whatever a last aborted request still holds open.
process.exitCode = code;
if (code !== 0 || !["serve", "bridge"].includes(process.argv[2] ?? ""))
  setTimeout(() => process.exit(code), 0).unref();
