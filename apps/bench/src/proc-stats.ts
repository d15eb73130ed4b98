/**
 * CPU and memory of process trees and of the whole machine, from /proc (Linux only).
 * CPU is utime+stime deltas: 100 % = one core busy for the whole interval.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clockTicks: number | null = null;

/** USER_HZ, the unit of utime/stime in /proc/PID/stat. */
export function clkTck(): number {
  if (clockTicks !== null) return clockTicks;
  try {
    clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    clockTicks = 100;
  }
  return clockTicks;
}

interface ProcEntry {
  ppid: number;
  /** utime + stime, clock ticks. */
  ticks: number;
}

/** One pass over /proc: every process's parent and CPU ticks. */
export function scanProcesses(): Map<number, ProcEntry> {
  const out = new Map<number, ProcEntry>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const entry = readStat(Number(name));
    if (entry) out.set(Number(name), entry);
  }
  return out;
}

function readStat(pid: number): ProcEntry | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may contain spaces; fields after it are space separated.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
}

/** A process's CPU time so far (utime + stime) in microseconds, or null when it is gone. */
export function cpuMicros(pid: number): number | null {
  const entry = readStat(pid);
  return entry ? (entry.ticks / clkTck()) * 1e6 : null;
}

/** Resident set size in bytes (VmRSS), or null when the process is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function treeOf(root: number, procs: Map<number, ProcEntry>): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, e] of procs) {
    const list = children.get(e.ppid);
    if (list) list.push(pid);
    else children.set(e.ppid, [pid]);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    if (!procs.has(pid)) continue;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** CPU of a process and all its descendants (e.g. postmaster + backends) between samples. */
export class TreeCpuMeter {
  private last = new Map<number, number>();
  private lastAt = 0;

  constructor(readonly rootPid: number) {}

  /** CPU % since the previous call (null on the first call). */
  sample(procs: Map<number, ProcEntry>, at: number): number | null {
    const pids = treeOf(this.rootPid, procs);
    const current = new Map<number, number>();
    let delta = 0;
    for (const pid of pids) {
      const ticks = procs.get(pid)?.ticks ?? 0;
      current.set(pid, ticks);
      // A process started during the interval counts from zero.
      delta += ticks - (this.last.get(pid) ?? 0);
    }
    const first = this.lastAt === 0;
    const seconds = (at - this.lastAt) / 1000;
    this.last = current;
    this.lastAt = at;
    if (first || seconds <= 0) return null;
    return (delta / clkTck() / seconds) * 100;
  }
}

/** Whole-machine CPU from /proc/stat: busy and steal in % of one core (2 cores: up to 200 %). */
export class SystemCpuMeter {
  private last: { busy: number; steal: number; total: number } | null = null;

  sample(): { busyPct: number; stealPct: number } | null {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    const idle = f[3] + (f[4] ?? 0);
    const steal = f[7] ?? 0;
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    const cur = { busy: total - idle - steal, steal, total };
    const prev = this.last;
    this.last = cur;
    if (!prev || cur.total <= prev.total) return null;
    const cores = cpuCount();
    const span = (cur.total - prev.total) / cores;
    return { busyPct: ((cur.busy - prev.busy) / span) * 100, stealPct: ((cur.steal - prev.steal) / span) * 100 };
  }
}

export function cpuCount(): number {
  return (
    readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .filter((l) => /^cpu\d+ /.test(l)).length || 1
  );
}

export function machineInfo(): { cpus: number; cpuModel: string; memoryGiB: number; node: string; kernel: string } {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  const memKb = Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  let kernel = 'unknown';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    // not fatal
  }
  return { cpus: cpuCount(), cpuModel: model, memoryGiB: Math.round((memKb / 1024 / 1024) * 10) / 10, node: process.version, kernel };
}

/**
 * Time the process's main thread (the event loop) spent runnable but waiting for a CPU, as a
 * percentage of wall time between calls, from /proc/PID/schedstat. High values mean the machine,
 * not the process, is the bottleneck: the process had work but no core to run it on.
 */
export class RunQueueMeter {
  private lastWaitNs: number | null = null;
  private lastAt = 0;

  constructor(readonly pid: number) {}

  sample(at: number): number | null {
    let waitNs: number;
    try {
      waitNs = Number(readFileSync(`/proc/${this.pid}/schedstat`, 'utf8').trim().split(/\s+/)[1]);
    } catch {
      return null;
    }
    const prev = this.lastWaitNs;
    const seconds = (at - this.lastAt) / 1000;
    this.lastWaitNs = waitNs;
    this.lastAt = at;
    if (prev === null || seconds <= 0) return null;
    return ((waitNs - prev) / 1e9 / seconds) * 100;
  }
}
