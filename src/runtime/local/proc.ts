import { readdirSync, readFileSync } from "node:fs";

/** Process-group helpers. Every child runs as the leader of its own group (`detached: true`). */

/** Sends `signal` to the whole group led by `pgid`; false when no process of the group exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** `[pid, pgid, state]` from `/proc/<pid>/stat`, or undefined when the process is gone. */
export function procStat(pid: number): { pgid: number; state: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0] ?? "?", pgid: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

/** A process that still runs: exists and is not a zombie (zombies are dead, just not yet reaped). */
export function isRunning(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== "Z" && stat.state !== "X";
}

const hasProc = (() => {
  try {
    readFileSync("/proc/self/stat");
    return true;
  } catch {
    return false;
  }
})();

/**
 * Whether any process of the group still runs. On Linux zombies do not count (a container's init
 * may reap orphans late); elsewhere this falls back to `kill(-pgid, 0)`.
 */
export function groupRunning(pgid: number): boolean {
  if (!hasProc) return signalGroup(pgid, 0);
  if (!signalGroup(pgid, 0)) return false;
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const stat = procStat(pid);
    if (stat && stat.pgid === pgid && stat.state !== "Z" && stat.state !== "X") return true;
  }
  return false;
}

/** Resolves when `until()` holds or `ms` passed; polls every `stepMs`. Returns whether it held. */
export async function waitFor(until: () => boolean, ms: number, stepMs = 20): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!until()) {
    if (Date.now() >= deadline) return false;
    await Bun.sleep(stepMs);
  }
  return true;
}
