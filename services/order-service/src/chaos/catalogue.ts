import dbBlockWrites from './faults/db-block-writes.js'
import dbLatency from './faults/db-latency.js'
import massExpiry from './faults/mass-expiry.js'
import redisPause from './faults/redis-pause.js'
import redisUnpause from './faults/redis-unpause.js'
import expireKey from './faults/expire-key.js'
import expirePrefix from './faults/expire-prefix.js'
import raceWindow from './faults/race-window.js'
import workerKill from './faults/worker-kill.js'
import workerPause from './faults/worker-pause.js'
import type { ChaosDefinition } from './types.js'

// Adding a fault or action: a file under chaos/faults/ and one line here.
export const CHAOS: ChaosDefinition[] = [
  dbLatency as unknown as ChaosDefinition,
  massExpiry as unknown as ChaosDefinition,
  redisPause as unknown as ChaosDefinition,
  redisUnpause as unknown as ChaosDefinition,
  expireKey as unknown as ChaosDefinition,
  expirePrefix as unknown as ChaosDefinition,
  raceWindow as unknown as ChaosDefinition,
  dbBlockWrites as unknown as ChaosDefinition,
  workerPause as unknown as ChaosDefinition,
  workerKill as unknown as ChaosDefinition,
]

export function findChaos(name: string): ChaosDefinition | undefined {
  return CHAOS.find((c) => c.name === name)
}
