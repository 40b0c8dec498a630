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

/** State, parent and process group from `/proc/<pid>/stat`, or undefined when the process is gone. */
export function procStat(pid: number): { pgid: number; ppid: number; state: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0] ?? "?", ppid: Number(fields[1]), pgid: Number(fields[2]) };
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

/** Whether `pid` is `ancestor` or one of its descendants. */
function descendsFrom(pid: number, ancestor: number): boolean {
  let cur = pid;
  for (let hops = 0; cur > 1 && hops < 64; hops++) {
    if (cur === ancestor) return true;
    cur = procStat(cur)?.ppid ?? 0;
  }
  return false;
}

/**
 * Process groups a previous server on the same data dir left running. Every child runs with its
 * HOME under `homesDir`, so a live process with such a HOME that is not a descendant of this
 * process belongs to a server that is gone: killed with SIGKILL, its children got stdin EOF, and
 * the ones that ignore it would run forever. Linux only (`/proc`); elsewhere none are found.
 */
export function leftoverGroups(homesDir: string): number[] {
  if (!hasProc) return [];
  const needle = `HOME=${homesDir}/`;
  const own = procStat(process.pid)?.pgid;
  const groups = new Set<number>();
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid <= 1) continue;
    const stat = procStat(pid);
    if (!stat || stat.state === "Z" || stat.state === "X" || stat.pgid <= 1 || stat.pgid === own) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${pid}/environ`, "latin1");
    } catch {
      continue; // gone, or another user's
    }
    if (!environ.split("\0").some((v) => v.startsWith(needle))) continue;
    if (!descendsFrom(pid, process.pid)) groups.add(stat.pgid);
  }
  return [...groups];
}
