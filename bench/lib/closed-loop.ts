export interface LoopResult {
  ops: number
  elapsedMs: number
  opsPerSec: number
  errors: number
  firstError?: string
}

/**
 * A closed loop for in-process benchmarks: `concurrency` workers each await one operation after
 * another until the time is up (or `maxOps` operations were started), like a load generator's
 * connections. The operation gets the index of the operation (0, 1, 2...).
 */
export async function closedLoop(op: (i: number) => Promise<unknown>, opts: { concurrency: number; durationMs: number; maxOps?: number }): Promise<LoopResult> {
  const max = opts.maxOps ?? Infinity
  let next = 0
  let done = 0
  let errors = 0
  let firstError: string | undefined
  const started = performance.now()
  const end = started + opts.durationMs
  const worker = async () => {
    while (next < max && performance.now() < end) {
      const i = next++
      try {
        await op(i)
        done++
      } catch (err) {
        errors++
        firstError ??= (err as Error).message
      }
    }
  }
  await Promise.all(Array.from({ length: opts.concurrency }, worker))
  const elapsedMs = performance.now() - started
  return { ops: done, elapsedMs, opsPerSec: done / (elapsedMs / 1000), errors, ...(firstError ? { firstError } : {}) }
}
