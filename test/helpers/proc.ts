import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** Linux `/proc` readings for fault, soak and runtime tests: processes, descriptors, memory. */

function stat(pid: number): { state: string; ppid: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0] ?? "?", ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

/** Every pid in /proc at this moment. */
function pids(): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

const live = (s: { state: string } | undefined) => s !== undefined && s.state !== "Z" && s.state !== "X";

/** The state letter of a live process (R, S, T, …); undefined when it is gone or a zombie. */
export function procState(pid: number): string | undefined {
  const s = stat(pid);
  return live(s) ? s?.state : undefined;
}

/** A live process (a zombie waiting to be reaped does not count). */
export function alive(pid: number): boolean {
  return live(stat(pid));
}

/** Live direct children of a process. */
export function childrenOf(pid: number): number[] {
  return pids().filter((p) => {
    const s = stat(p);
    return live(s) && s?.ppid === pid;
  });
}

/** `pid` and all its descendants, zombies included (by parent pid). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of pids()) {
    const s = stat(p);
    if (s) children.set(s.ppid, [...(children.get(s.ppid) ?? []), p]);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** Open file descriptors of a process, by kind (`socket`, `pipe`, `anon_inode`, `file`). */
export function fds(pid: number): { total: number; byKind: Record<string, number> } {
  const byKind: Record<string, number> = {};
  let total = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target = "";
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed while we looked
    }
    const kind = /^(socket|pipe|anon_inode):/.exec(target)?.[1] ?? "file";
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    total++;
  }
  return { total, byKind };
}

/** Resident set size in KiB. */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
}

/** The command line of a process, or undefined when it is gone. */
export function cmdline(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return undefined;
  }
}

/** Live processes whose command line contains `needle` (for example a temp data dir path). */
export function processesMatching(needle: string): number[] {
  return pids().filter(
    (p) => p !== process.pid && alive(p) && (cmdline(p) ?? []).some((a) => a.includes(needle)),
  );
}

/** Polls `cond` every `stepMs` until it holds; throws naming `what` after `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await Bun.sleep(50);
  }
}
