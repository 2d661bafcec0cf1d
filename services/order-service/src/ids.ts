import { randomInt } from 'node:crypto'
import type { Redis } from 'ioredis'

// Snowflake-style ids: 41 bits of milliseconds since 2024-01-01, 10 bits of node, 12 bits of
// sequence. The service assigns ids itself so that a queued order has its id before it reaches
// MySQL; they start near 2^58, far above the seeded ids 1..N.
const EPOCH_MS = 1_704_067_200_000n
const NODE_BITS = 10n
const SEQ_BITS = 12n
const MAX_SEQ = (1 << Number(SEQ_BITS)) - 1

export class IdGenerator {
  private lastMs = 0
  private seq = 0

  constructor(readonly node: number) {
    if (!Number.isInteger(node) || node < 0 || node >= 1 << Number(NODE_BITS)) throw new Error(`node id must be 0..1023, got ${node}`)
  }

  /** A node number unique among live replicas (a Redis counter), or a random one without Redis. */
  static async forReplica(redis: Redis, counterKey: string): Promise<IdGenerator> {
    try {
      const n = await redis.incr(counterKey)
      return new IdGenerator(n % 1024)
    } catch {
      return new IdGenerator(randomInt(1024))
    }
  }

  next(): string {
    let now = Date.now()
    if (now < this.lastMs) now = this.lastMs // clock stepped back: stay monotonic
    if (now === this.lastMs) {
      this.seq++
      if (this.seq > MAX_SEQ) {
        // 4096 ids in one millisecond: borrow the next millisecond.
        now = this.lastMs + 1
        this.seq = 0
      }
    } else {
      this.seq = 0
    }
    this.lastMs = now
    return ((BigInt(now) - EPOCH_MS) << (NODE_BITS + SEQ_BITS) | (BigInt(this.node) << SEQ_BITS) | BigInt(this.seq)).toString()
  }
}
