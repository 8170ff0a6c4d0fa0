/**
 * CPU time of a process and of its threads from Linux /proc, for the benchmarks' CPU figures
 * (./http.ts, ./forward.ts). Elsewhere there is no /proc: NaN and null.
 */

/** The command name and the user + system CPU seconds of a /proc stat line (ticks of 1/100 s). */
function parseStat(stat: string): { name: string; seconds: number } {
  // The name is in parentheses and may hold spaces; utime and stime are fields 14 and 15.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    name: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")),
    seconds: (Number(f[11]) + Number(f[12])) / 100,
  };
}

/** User + system CPU seconds of process `pid` so far, all threads; NaN when it cannot be read. */
export function processCpuSeconds(pid: number): number {
  try {
    return parseStat(Deno.readTextFileSync(`/proc/${pid}/stat`)).seconds;
  } catch {
    return NaN;
  }
}

/** Each thread of process `pid` by thread id: its name and CPU seconds so far; null without /proc. */
export function threadCpuSeconds(
  pid: number,
): Map<number, { name: string; seconds: number }> | null {
  try {
    const out = new Map<number, { name: string; seconds: number }>();
    for (const e of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        out.set(
          Number(e.name),
          parseStat(Deno.readTextFileSync(`/proc/${pid}/task/${e.name}/stat`)),
        );
      } catch { /* the thread ended */ }
    }
    return out;
  } catch {
    return null;
  }
}
