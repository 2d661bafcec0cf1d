// Types of workload.js (plain JavaScript so that k6 scripts can import it too).
import type { KeySpec, Workload } from '../runner/schemas.js'

export declare const MISSING_ID_MIN: number
export declare const MISSING_ID_MAX: number

export interface Rng {
  u32(): number
  next(): number
  int(min: number, max: number): number
}

export declare function createRng(seed: number): Rng

export declare function createKeyPicker(spec: KeySpec, rng: Rng, ctx: { seededOrders: number }): () => string

export type RequestKind = 'read' | 'update' | 'create'

export interface PlannedRequest {
  kind: RequestKind
  /** The mix entry's tag (defaults to the kind): lets effects tell e.g. attack reads from normal ones. */
  tag: string
  method: 'GET' | 'PUT' | 'POST'
  path: string
  id?: string
  body?: string
  /** The mix entry's replica (index of the base URL): send it there instead of round robin. */
  replica?: number
  /** Create entries: read the new order back at once (GET /orders/<id>), on this replica, with this tag. */
  readBack?: { replica?: number; tag: string }
}

export declare function createWorkload(workload: Pick<Workload, 'mix'>, opts: { seed: number; seededOrders: number }): { next(): PlannedRequest }
