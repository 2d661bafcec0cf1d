import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism, loadavg } from 'node:os'

let ticksPerSecond: number | undefined

/**
 * CPU time (user + system, ms) a process has used so far, from /proc; undefined where there is no
 * /proc. Throughput on a shared machine moves with everyone else's load; CPU time per request
 * moves much less, so it is reported beside each throughput ratio.
 */
export function cpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may contain spaces) start at the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12])
    ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    return (ticks / ticksPerSecond) * 1000
  } catch {
    return undefined
  }
}

/** The machine's load right now, for the report: 1-minute load average over the core count. */
export function machineLoad(): { loadAvg1m: number; cores: number } {
  return { loadAvg1m: Math.round(loadavg()[0]! * 100) / 100, cores: availableParallelism() }
}
