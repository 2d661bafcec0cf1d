import { readFile } from 'node:fs/promises'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'

// Summarizes a V8 .cpuprofile (node --cpu-prof): self time per function and per origin (our
// code, each npm package, Node internals, GC), as shares of the busy (non-idle) time.
//   npx tsx bench/cpuprofile-summary.ts <file.cpuprofile> [--top N] [--from-ms MS] [--to-ms MS]

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
  columnNumber: number
}
interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}
interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

export interface Row {
  name: string
  selfMs: number
  /** Share of the busy time (idle excluded). */
  share: number
}

export interface ProfileSummary {
  totalMs: number
  idleMs: number
  busyMs: number
  functions: Row[]
  origins: Row[]
}

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** Where a function comes from: `ours:<path>`, an npm package name, `node:<module>`, or a V8 pseudo-node. */
export function originOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)'
  const nm = url.lastIndexOf('/node_modules/')
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/')
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/')
  if (url.startsWith('file://')) return `ours:${relative(ROOT, fileURLToPath(url))}`
  return url
}

export interface SummaryOptions {
  top?: number
  /** Only samples from this many ms after the profile started (skips start-up)... */
  fromMs?: number
  /** ...up to this many ms after it started. */
  toMs?: number
}

export async function summarizeProfile(file: string, opts: SummaryOptions = {}): Promise<ProfileSummary> {
  const top = opts.top ?? 25
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  const fromUs = (opts.fromMs ?? 0) * 1000
  const toUs = (opts.toMs ?? Infinity) * 1000
  let at = 0
  // timeDeltas[i] is the time before sample i; attributing it to sample i is V8's own convention.
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = Math.max(0, profile.timeDeltas[i] ?? 0)
    at += delta
    if (at < fromUs || at > toUs) continue
    const id = profile.samples[i]!
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta)
  }
  const fn = new Map<string, number>()
  const origin = new Map<string, number>()
  let idleUs = 0
  let totalUs = 0
  for (const [id, us] of selfUs) {
    const { callFrame: cf } = byId.get(id)!
    totalUs += us
    if (cf.functionName === '(idle)') {
      idleUs += us
      continue
    }
    const o = originOf(cf.url, cf.functionName)
    const where = cf.url ? `${o.replace(/^ours:/, '')}:${cf.lineNumber + 1}` : o
    const key = `${cf.functionName || '(anonymous)'} ${where}`
    fn.set(key, (fn.get(key) ?? 0) + us)
    origin.set(o, (origin.get(o) ?? 0) + us)
  }
  const busyUs = totalUs - idleUs
  const rows = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: us / 1000, share: busyUs > 0 ? us / busyUs : 0 }))
  return { totalMs: totalUs / 1000, idleMs: idleUs / 1000, busyMs: busyUs / 1000, functions: rows(fn), origins: rows(origin) }
}

export function formatSummary(s: ProfileSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`
  const lines = [`busy ${s.busyMs.toFixed(0)} ms of ${s.totalMs.toFixed(0)} ms sampled (idle ${((s.idleMs / Math.max(s.totalMs, 1)) * 100).toFixed(0)}%)`, '', 'self time by origin:']
  for (const r of s.origins) lines.push(`  ${pct(r.share)}  ${r.name}`)
  lines.push('', 'top functions by self time:')
  for (const r of s.functions) lines.push(`  ${pct(r.share)}  ${r.name}`)
  return lines.join('\n')
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2)
  const file = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'))
  const opt = (name: string) => {
    const i = args.indexOf(name)
    return i === -1 ? undefined : Number(args[i + 1])
  }
  if (!file) {
    console.error('usage: npx tsx bench/cpuprofile-summary.ts <file.cpuprofile> [--top N] [--from-ms MS] [--to-ms MS]')
    process.exit(2)
  }
  console.log(formatSummary(await summarizeProfile(file, { top: opt('--top'), fromMs: opt('--from-ms'), toMs: opt('--to-ms') })))
}
