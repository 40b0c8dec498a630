// Loaded before every test file (bunfig.toml). Tests never read the developer's real data dir or
// config: each gets a throwaway HOME unless it sets its own.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const home = mkdtempSync(join(tmpdir(), "catwalk-test-home-"));
process.env.HOME = home;
process.env.XDG_DATA_HOME = join(home, ".local", "share");
process.env.XDG_CONFIG_HOME = join(home, ".config");
for (const key of Object.keys(process.env)) {
  if (key.startsWith("CATWALK_") && !key.startsWith("CATWALK_TEST_")) delete process.env[key];
}
