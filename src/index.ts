import { main } from "./cli/main.ts";

const command = process.argv[2] ?? "";
const longRunning = ["serve", "bridge"].includes(command);

// A reader that stops early (`catwalk logs x | head`) closes the pipe: a command has nothing left
// to say and ends quietly; the server and the bridge keep running without their stdout.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
    if (!longRunning) process.exit(0);
  });
}

const code = await main(process.argv.slice(2));
// Let stdout drain before exiting; serve and bridge return only when done (their children may still
// be stopping). The TUI is over when it returns, whatever a last aborted request still holds open.
process.exitCode = code;
if (code !== 0 || !longRunning) setTimeout(() => process.exit(code), 0).unref();
