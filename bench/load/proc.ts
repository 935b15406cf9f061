// Reads a process's CPU time and memory from /proc, the only source the load
// benchmark uses for cost and memory: CPU is utime+stime (all threads) from
// /proc/<pid>/stat, memory is VmRSS / VmHWM from /proc/<pid>/status.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Kernel clock ticks per second (USER_HZ); 100 on every Linux the relay targets. */
const TICKS_PER_SECOND = 100;

/** CPU time used so far by `pid`, in milliseconds (10 ms resolution). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (comm) may contain spaces; everything after the last ')' is space-separated.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so utime (field 14) is rest[11] and stime rest[12].
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / TICKS_PER_SECOND;
}

/** A field of /proc/<pid>/status in KiB (VmRSS, VmHWM, …); 0 if absent. */
export function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return m === null ? 0 : Number(m[1]);
}

/** Child pids of `pid` (needs CONFIG_PROC_CHILDREN, present on Debian kernels). */
export function childPids(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text === '' ? [] : text.split(' ').map(Number);
  } catch {
    return [];
  }
}

/** True when the module at `url` is the process's entry script. */
export function isMain(url: string): boolean {
  return process.argv[1] !== undefined && fileURLToPath(url) === process.argv[1];
}

/** The TCP socket under a ws WebSocket (not in ws's public types; src/lib/internals.ts). */
export { wsSocket as socketOf } from '../../src/lib/internals.js';
