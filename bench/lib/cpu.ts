import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { availableParallelism, loadavg } from 'node:os'

let ticksPerSecond: number | undefined

/**
 * CPU time (user + system, ms) a process has used so far, from /proc; undefined where there is no
 * /proc. Throughput on a shared machine moves with everyone else's load; CPU time per request
 * moves much less, so it is reported beside each throughput ratio.
 */
export function cpuMs(pid: number): number | undefined {
  try {
    const { user, system } = readStat(`/proc/${pid}/stat`)
    return user + system
  } catch {
    return undefined
  }
}

/** User and system CPU ms of a process or thread, from its /proc stat file. */
function readStat(path: string): { user: number; system: number } {
  const stat = readFileSync(path, 'utf8')
  // Fields after the command name (which may contain spaces) start at the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  return { user: (Number(fields[11]) / ticksPerSecond) * 1000, system: (Number(fields[12]) / ticksPerSecond) * 1000 }
}

/** CPU ms so far of a process's threads (Linux /proc): the main thread (user, and in all) and the others together. */
export function threadCpuMs(pid: number): { main: number; mainUser: number; other: number } {
  const out = { main: 0, mainUser: 0, other: 0 }
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const { user, system } = readStat(`/proc/${pid}/task/${tid}/stat`)
      if (tid === String(pid)) {
        out.main += user + system
        out.mainUser += user
      } else out.other += user + system
    } catch {
      // the thread ended meanwhile
    }
  }
  return out
}

/** The machine's load right now, for the report: 1-minute load average over the core count. */
export function machineLoad(): { loadAvg1m: number; cores: number } {
  return { loadAvg1m: Math.round(loadavg()[0]! * 100) / 100, cores: availableParallelism() }
}
