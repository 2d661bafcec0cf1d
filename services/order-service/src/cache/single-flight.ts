import { setTimeout as sleep } from 'node:timers/promises'

/**
 * In-process request coalescing: concurrent calls for one key share the first call's promise
 * (settled or rejected together). Nothing is cached once it settles. Per process only: replicas
 * each make their own call.
 */
export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>()

  constructor(private readonly onJoin?: () => void) {}

  run(key: string, fn: () => Promise<T>): Promise<T> {
    const running = this.inFlight.get(key)
    if (running !== undefined) {
      this.onJoin?.()
      return running
    }
    const call = fn().finally(() => this.inFlight.delete(key))
    this.inFlight.set(key, call)
    return call
  }

  has(key: string): boolean {
    return this.inFlight.has(key)
  }

  /** Resolves when every call in flight now has settled (errors ignored), or after `maxMs`. */
  async drain(maxMs: number): Promise<void> {
    if (this.inFlight.size === 0) return
    await Promise.race([Promise.allSettled([...this.inFlight.values()]), sleep(maxMs, undefined, { ref: false })])
  }
}
