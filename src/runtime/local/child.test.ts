import { describe, expect, test } from "bun:test";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FIXTURES, rpc, toolText } from "../../../test/helpers/upstream.ts";
import { handshake } from "../../mcp/handshake.ts";
import { type ChildCommand, LocalChild } from "./child.ts";
import { LineSplitter } from "./lines.ts";
import { isRunning } from "./proc.ts";

function command(overrides: Partial<ChildCommand> & Pick<ChildCommand, "command" | "args">): ChildCommand {
  return { env: { PATH: "/usr/bin:/bin" }, cwd: tmpdir(), ...overrides };
}

function fixture(name: string): ChildCommand {
  return command({ command: process.execPath, args: [join(FIXTURES, name)] });
}

function spawn(cmd: ChildCommand, maxLineBytes?: number) {
  const stderr: string[] = [];
  const notices: string[] = [];
  const child = new LocalChild(cmd, {
    stderr: (l) => stderr.push(l),
    notice: (l) => notices.push(l),
    maxLineBytes,
    stdinGraceMs: 200,
    termGraceMs: 1000,
  });
  return { child, stderr, notices };
}

describe("local child", () => {
  test("speaks newline-delimited JSON-RPC on stdio and runs as the leader of its own process group", async () => {
    const { child } = spawn(fixture("echo-server.ts"));
    const { channel } = await handshake(child, { timeoutMs: 10_000 });
    const text = toolText(
      await rpc(channel).call("tools/call", { name: "echo", arguments: { text: "a\nb" } }),
    );
    expect(text).toBe("a\nb");
    const stat = await Bun.file(`/proc/${child.pid}/stat`).text();
    const pgid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
    expect(pgid).toBe(child.pid as number);
    await child.close();
    expect(child.closed).toBe(true);
  });

  test("splits stderr into lines for the log and keeps the last 50 for the close reason", async () => {
    const script = "for i in $(seq 1 60); do echo line $i >&2; done; exit 4";
    const { child, stderr } = spawn(command({ command: "/bin/sh", args: ["-c", script] }));
    const reason = await child.exited;
    expect(stderr).toHaveLength(60);
    expect(stderr[59]).toBe("line 60");
    expect(reason).toMatchObject({ kind: "exited", code: 4, message: "exited with code 4" });
    expect(reason.stderrTail).toHaveLength(50);
    expect(reason.stderrTail?.at(-1)).toBe("line 60");
  });

  test("an endless stdout line is capped: the child is killed with a clear reason", async () => {
    const { child, notices } = spawn(fixture("flood-server.ts"), 256 * 1024);
    const reason = await child.exited;
    expect(reason.kind).toBe("error");
    expect(reason.message).toContain("stdout line longer than 262144 bytes");
    expect(notices.some((n) => n.includes("longer than 262144 bytes"))).toBe(true);
    expect(isRunning(child.pid as number)).toBe(false);
  });

  test("sending to a child that exited neither throws nor crashes the process", async () => {
    const { child } = spawn(fixture("crash-server.ts"));
    await child.exited;
    for (let i = 0; i < 3; i++) child.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    await Bun.sleep(50);
    expect(child.alive).toBe(false);
  });

  test("writes racing the child's exit do not surface EPIPE", async () => {
    const { child } = spawn(command({ command: "/bin/sh", args: ["-c", "exec 0<&-; sleep 0.05"] }));
    const big = { jsonrpc: "2.0" as const, method: "x", params: { pad: "y".repeat(64 * 1024) } };
    for (let i = 0; i < 50; i++) {
      child.send(big);
      await Bun.sleep(2);
    }
    const reason = await child.exited;
    expect(reason.kind).toBe("exited");
  });

  test("skipped stdout lines are noted at most 10 times per window, then counted", async () => {
    const script = "for i in $(seq 1 50); do echo garbage $i; done; sleep 0.1";
    const { child, notices } = spawn(command({ command: "/bin/sh", args: ["-c", script] }));
    await child.exited;
    expect(notices).toHaveLength(10);
    expect(notices[0]).toBe("skipped a stdout line that is not JSON-RPC: garbage 1");
  });

  test("a group that ignores SIGTERM is killed with SIGKILL after the grace period", async () => {
    const { child } = spawn(command({ command: "/bin/sh", args: ["-c", "trap '' TERM; sleep 1000 & wait"] }));
    await Bun.sleep(100);
    await child.close();
    const reason = await child.exited;
    expect(reason).toMatchObject({ kind: "closed", signal: "SIGKILL" });
    expect(isRunning(child.pid as number)).toBe(false);
  });

  test("close() kills the whole process group, grandchildren included", async () => {
    const { child, stderr } = spawn(fixture("grandchild-server.ts"));
    await handshake(child, { timeoutMs: 10_000 });
    const grandchild = Number(stderr.find((l) => l.startsWith("grandchild pid"))?.slice(15));
    expect(isRunning(grandchild)).toBe(true);
    await child.close();
    expect(isRunning(child.pid as number)).toBe(false);
    expect(isRunning(grandchild)).toBe(false);
    expect((await child.exited).kind).toBe("closed");
  });

  test("a leader that exits on its own takes its leftover group members with it", async () => {
    const { child, stderr } = spawn(
      command({ command: "/bin/sh", args: ["-c", "sleep 1000 & echo grandchild $! >&2; exit 0"] }),
    );
    await child.exited;
    const grandchild = Number(stderr[0]?.split(" ")[1]);
    expect(grandchild).toBeGreaterThan(0);
    expect(isRunning(grandchild)).toBe(false);
  });

  test("a program that cannot be executed closes the channel with an error reason", async () => {
    const { child } = spawn(command({ command: "/nonexistent/catwalk-server", args: [] }));
    const reason = await child.exited;
    expect(reason.kind).toBe("error");
    expect(reason.message).toContain("cannot start /nonexistent/catwalk-server");
    expect(child.description).toContain("not started");
    await child.close();
  });

  test("a JSON-RPC batch array on stdout is delivered message by message", async () => {
    const batch = JSON.stringify([
      { jsonrpc: "2.0", method: "a" },
      { jsonrpc: "2.0", method: "b" },
    ]);
    const { child } = spawn(command({ command: "/bin/sh", args: ["-c", `echo '${batch}'; sleep 0.1`] }));
    const methods: string[] = [];
    child.setHandlers({ message: (m) => "method" in m && methods.push(m.method), close: () => {} });
    await child.exited;
    expect(methods).toEqual(["a", "b"]);
  });
});

describe("line splitter", () => {
  test("joins lines split across chunks, including multi-byte characters", () => {
    const lines: string[] = [];
    const splitter = new LineSplitter(1024);
    const bytes = Buffer.from("héllo\r\nwörld\npartial");
    for (let i = 0; i < bytes.length; i++) splitter.push(bytes.subarray(i, i + 1), (l) => lines.push(l));
    expect(lines).toEqual(["héllo", "wörld"]);
    expect(splitter.take()).toBe("partial");
  });

  test("reports an unfinished line longer than the limit", () => {
    const splitter = new LineSplitter(8);
    expect(splitter.push(Buffer.from("12345"), () => {})).toBe(true);
    expect(splitter.push(Buffer.from("67890"), () => {})).toBe(false);
  });
});
