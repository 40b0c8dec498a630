/**
 * The compiled binary's TUI under tmux at 80x24, against a server that is the compiled binary
 * too: deploy npm:@modelcontextprotocol/server-everything through the wizard (the real npm
 * registry; GitHub is a fake that knows no repository, so the analysis uses registry metadata),
 * see it running on the dashboard, open it, rotate its token, read its logs, quit with the
 * terminal restored. A second run ends the TUI with SIGTERM.
 *
 * Set CATWALK_TEST_TUI_CAPTURES=<dir> to write a text capture of each screen there (README).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type FakeGitHub, startFakeGitHub } from "../fakes/github.ts";
import { isolatedBinary, waitForServer } from "../helpers/binary.ts";
import { initializeBody, rawPost } from "../helpers/mcp.ts";
import { sharedCacheDir, tempDir } from "../helpers/server.ts";

const TMUX = Bun.which("tmux");
const CAPTURES = Bun.env.CATWALK_TEST_TUI_CAPTURES;
const SOCKET = `catwalk-e2e-${process.pid}`;

function tmux(...args: string[]): string {
  const res = Bun.spawnSync([TMUX as string, "-L", SOCKET, "-f", "/dev/null", ...args], {
    stdout: "pipe",
    stderr: "pipe",
  });
  if (res.exitCode !== 0) throw new Error(`tmux ${args.join(" ")}: ${res.stderr.toString()}`);
  return res.stdout.toString();
}

const pane = () => tmux("capture-pane", "-p", "-t", "tui");
const paneVar = (name: string) => tmux("display-message", "-p", "-t", "tui", `#{${name}}`).trim();

/** One key per send-keys call, with a pause, as a person types. */
async function keys(...names: string[]): Promise<void> {
  for (const k of names) {
    tmux("send-keys", "-t", "tui", k);
    await Bun.sleep(k === "Escape" ? 150 : 80);
  }
}

/** Text in one send-keys call: it reaches the TUI as a burst. */
function text(s: string): void {
  tmux("send-keys", "-t", "tui", "-l", s);
}

async function waitPane(match: string | RegExp, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = pane();
    if (typeof match === "string" ? p.includes(match) : match.test(p)) return p;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(match)}; pane:\n${p}`);
    await Bun.sleep(100);
  }
}

function capture(name: string, screen: string): void {
  if (!CAPTURES) return;
  mkdirSync(CAPTURES, { recursive: true });
  writeFileSync(join(CAPTURES, `${name}.txt`), screen.replace(/\s+$/, "\n"));
}

if (!TMUX) {
  test.skip("TUI end-to-end (skipped: tmux is not installed; CI installs it)", () => {});
} else {
  describe("catwalk tui, compiled, under tmux at 80x24", () => {
    let github: FakeGitHub;
    let server: ReturnType<typeof Bun.spawn>;
    let bin: string;
    let dataDir: string;
    let url: string;

    beforeAll(async () => {
      const isolated = isolatedBinary();
      bin = isolated.bin;
      github = await startFakeGitHub({ repos: [] });
      dataDir = join(isolated.dir, "data");
      server = Bun.spawn([bin, "serve", "--port", "0", "--data-dir", dataDir], {
        cwd: isolated.dir,
        env: {
          PATH: Bun.env.PATH ?? "/usr/bin:/bin",
          HOME: isolated.dir,
          CATWALK_GITHUB_API_URL: github.url,
          // Shared across runs, so server-everything is downloaded once per machine.
          CATWALK_LOCAL_PACKAGE_CACHE_DIR: sharedCacheDir("catwalk-e2e-package-cache"),
        },
        stdout: "ignore",
        stderr: "ignore",
      });
      url = await waitForServer(dataDir);
    }, 120_000);

    afterAll(async () => {
      if (TMUX) Bun.spawnSync([TMUX, "-L", SOCKET, "kill-server"]);
      server?.kill("SIGTERM");
      await server?.exited;
      await github?.stop();
    });

    /**
     * A fresh shell in a fresh 80x24 session runs the TUI, then prints its exit code and whether
     * the terminal settings (stty) are as before.
     */
    const start = async () => {
      Bun.spawnSync([TMUX as string, "-L", SOCKET, "kill-session", "-t", "tui"], { stderr: "ignore" });
      const home = tempDir("catwalk-tui-home-");
      tmux("new-session", "-d", "-s", "tui", "-x", "80", "-y", "24", "-c", home, "-e", `HOME=${home}`, "sh");
      tmux("set-option", "-t", "tui", "status", "off");
      await waitPane(/[$#]/);
      tmux("send-keys", "-t", "tui", "stty -g > before.stty", "Enter");
      tmux(
        "send-keys",
        "-t",
        "tui",
        `clear; ${bin} tui --data-dir ${dataDir}; echo "exit=$?"; stty -g | cmp -s - before.stty && echo stty-restored`,
        "Enter",
      );
    };

    test("deploy server-everything through the wizard, rotate its token, read its logs, quit", async () => {
      await start();
      let p = await waitPane("No deployments yet");
      expect(p).toContain(`catwalk  ${url}`);
      expect(paneVar("alternate_on")).toBe("1");
      capture("dashboard-empty", p);

      await keys("n");
      await waitPane("[Source]");
      text("npm:@modelcontextprotocol/server-everything");
      p = await waitPane("Source npm:@modelcontextprotocol/server-everything");
      capture("wizard-source", p);
      await keys("Enter");
      p = await waitPane(/Deploy as\s+server-everything\s/, 30_000);
      expect(p).toMatch(/Package\s+npm @modelcontextprotocol\/server-everything\s+\d+%/);
      expect(p).toContain("! 2 warnings: The package declares github.com/modelcontextprotocol/servers");
      capture("wizard-manifest", p);

      await keys("a");
      p = await waitPane(/● running[\s\S]*Token for server-everything — shown only once/, 90_000);
      const token = /cwdep_[A-Za-z0-9_-]{40,}/.exec(p)?.[0] as string;
      expect(token).toBeDefined();
      expect(p).toMatch(/✔ installing\s+npm:@modelcontextprotocol\/server-everything@\S+/);
      capture("wizard-result", p);

      await keys("Escape");
      p = await waitPane(/› server-everything\s+local\s+● running/);
      capture("dashboard", p);

      await keys("Enter");
      p = await waitPane(/\[1 Overview\][\s\S]*Endpoint\s+\S+\/mcp\/server-everything/);
      capture("detail-overview", p);

      await keys("t");
      await waitPane(/default\s+\S+ ago\s+\S+/);
      await keys("r");
      await waitPane("Rotate token default? The old value stops working at once. y/N");
      await keys("y");
      p = await waitPane('New token "default" for server-everything — shown only once');
      const rotated = /cwdep_[A-Za-z0-9_-]{40,}/.exec(p)?.[0] as string;
      expect(rotated).not.toBe(token);
      capture("detail-tokens", p);
      const fresh = await rawPost(`${url}/mcp/server-everything`, initializeBody(), {
        authorization: `Bearer ${rotated}`,
      });
      expect(fresh.status).toBe(200);
      await fresh.body?.cancel();
      const old = await rawPost(`${url}/mcp/server-everything`, initializeBody(), {
        authorization: `Bearer ${token}`,
      });
      expect(old.status).toBe(401);
      await old.body?.cancel();

      await keys("Enter");
      await waitPane(/\[2 Tokens\]/);
      if (CAPTURES) {
        await keys("3");
        capture("detail-connect", await waitPane("Claude Desktop"));
        await keys("4");
        capture("detail-calls", await waitPane("since start"));
        await keys("5");
        capture("detail-clients", await waitPane("connect code"));
        await keys("1");
      }

      await keys("l");
      p = await waitPane(/server-everything log[\s\S]*▸ state starting -> running[\s\S]*● following/);
      capture("logs", p);

      if (CAPTURES) {
        await keys("Escape", "e");
        capture("events", await waitPane("● following"));
        await keys("?");
        capture("help", await waitPane("esc or ? closes the help"));
        await keys("Escape", "Escape");
      }

      await keys("q");
      p = await waitPane("stty-restored");
      expect(p).toContain("exit=0");
      expect(p).not.toContain("Deployments");
      expect(paneVar("alternate_on")).toBe("0");
      expect(paneVar("cursor_flag")).toBe("1");
    }, 180_000);

    test("SIGTERM ends the TUI with 143 and the terminal restored", async () => {
      await start();
      await waitPane(/› server-everything\s+local\s+● running/);
      const shell = paneVar("pane_pid");
      const child = Bun.spawnSync(["pgrep", "-P", shell], { stdout: "pipe" }).stdout.toString().trim();
      expect(child).toMatch(/^\d+$/);
      process.kill(Number(child), "SIGTERM");
      const p = await waitPane("stty-restored");
      expect(p).toContain("exit=143");
      expect(paneVar("alternate_on")).toBe("0");
      expect(paneVar("cursor_flag")).toBe("1");
    }, 60_000);
  });
}
