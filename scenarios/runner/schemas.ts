import { Type, type Static, type TSchema } from 'typebox'

// The single source of the lab's data shapes: scenario definitions, results and baselines. The JSON
// Schema files in scenarios/ are generated from these (`npm run lab:schemas`; a test checks they
// are current), so k6 scripts and anyone checking a result read the same contract.

const Name = Type.String({ pattern: '^[a-z0-9][a-z0-9-]*$', maxLength: 64 })
const Id = Type.String({ pattern: '^[1-9][0-9]{0,18}$' })
const Seconds = Type.Number({ minimum: 0, maximum: 3600 })
/** A moment in the measured part of a phase: seconds, or a percentage of its duration ("50%"). */
const Moment = Type.Union([Seconds, Type.String({ pattern: '^(100|[0-9]{1,2}(\\.[0-9]+)?)%$' })])

export const KeySpec = Type.Union(
  [
    Type.Object(
      {
        distribution: Type.Literal('uniform'),
        min: Type.Optional(Type.Integer({ minimum: 1, description: 'first id (default 1)' })),
        max: Type.Optional(Type.Integer({ minimum: 1, description: 'last id (default: the seeded orders)' })),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        distribution: Type.Literal('zipf'),
        exponent: Type.Number({ minimum: 0, maximum: 5, description: 'rank r is drawn with weight 1/r^exponent' }),
        min: Type.Optional(Type.Integer({ minimum: 1, description: 'hottest id (default 1)' })),
        max: Type.Optional(Type.Integer({ minimum: 1, description: 'coldest id (default: the seeded orders)' })),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      { distribution: Type.Literal('hot'), ids: Type.Array(Id, { minItems: 1, maxItems: 1000, description: 'hot ids, drawn uniformly' }) },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        distribution: Type.Literal('missing'),
        variant: Type.Union([Type.Literal('repeated'), Type.Literal('random')], { description: 'a small repeated set of absent ids, or a new random one from a huge range each time' }),
        count: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: 'size of the repeated set (default 10)' })),
      },
      { additionalProperties: false },
    ),
  ],
  { description: 'how ids are drawn' },
)
export type KeySpec = Static<typeof KeySpec>

const Tag = (description: string) => Type.String({ pattern: '^[a-z][a-z0-9-]*$', maxLength: 32, description })

export const MixEntry = Type.Object(
  {
    kind: Type.Union([Type.Literal('read'), Type.Literal('update'), Type.Literal('create')]),
    weight: Type.Number({ exclusiveMinimum: 0, description: 'relative share of the requests' }),
    keys: Type.Optional(KeySpec),
    tag: Type.Optional(Tag('label of these requests in the records (default: the kind), e.g. "attack"')),
    replica: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 7, description: 'send these requests to this replica (0 = the first; below deployment.replicas) instead of round robin; with --base-url there is one URL and it gets them' }),
    ),
    readBack: Type.Optional(
      Type.Object(
        {
          replica: Type.Optional(Type.Integer({ minimum: 0, maximum: 7, description: 'replica the read goes to (default: round robin)' })),
          tag: Type.Optional(Tag('tag of the reads in the records (default "read-back")')),
        },
        {
          additionalProperties: false,
          description: 'create entries only: as soon as a create is acknowledged (2xx with an id), GET /orders/<id> is sent, on top of the arrival rate, and recorded as a read',
        },
      ),
    ),
  },
  { additionalProperties: false },
)
export type MixEntry = Static<typeof MixEntry>

export const Arrival = Type.Union([
  Type.Object(
    {
      model: Type.Literal('open'),
      ratePerSec: Type.Number({ exclusiveMinimum: 0, maximum: 100_000, description: 'requests started per second, on schedule whatever the latency' }),
      stages: Type.Optional(
        Type.Array(Type.Object({ seconds: Type.Number({ exclusiveMinimum: 0 }), ratePerSec: Type.Number({ minimum: 0, maximum: 100_000 }) }, { additionalProperties: false }), {
          minItems: 1,
          description: 'rate per stage instead of ratePerSec (a burst: a stage at several times the rate); the measured duration is their sum',
        }),
      ),
      maxInFlight: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: 'requests outstanding at most; one due beyond it is not sent and counted as dropped (default 512)' })),
      connections: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096, description: 'HTTP connections per replica (default 64)' })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      model: Type.Literal('closed'),
      concurrency: Type.Integer({ minimum: 1, maximum: 10_000, description: 'virtual users, each sending its next request when the last one is answered' }),
    },
    { additionalProperties: false },
  ),
])
export type Arrival = Static<typeof Arrival>

const workloadProps = {
  mix: Type.Array(MixEntry, { minItems: 1, description: 'request kinds and their weights' }),
  arrival: Arrival,
  durationSeconds: Type.Number({ exclusiveMinimum: 0, maximum: 3600, description: 'measured part of each phase' }),
  warmupSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 3600, description: 'load before measuring (not recorded), default 0' })),
  settleSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 600, description: 'wait after the load before the final metrics (e.g. a queue draining), default 0' })),
  sampleIntervalMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 10_000, description: 'time-series resolution, default 500' })),
  requestTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 120_000, description: 'a request unanswered this long is an error, default 10000' })),
}
export const Workload = Type.Object(workloadProps, { additionalProperties: false })
export type Workload = Static<typeof Workload>
const PartialWorkload = Type.Object(
  Object.fromEntries(Object.entries(workloadProps).map(([k, v]) => [k, Type.Optional(v as TSchema)])),
  { additionalProperties: false, description: 'overrides of the scenario workload' },
)

const Params = Type.Record(Type.String(), Type.Unknown())
export const PhaseEvent = Type.Union([
  Type.Object(
    { at: Moment, fault: Type.String(), params: Type.Optional(Params), durationSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })) },
    { additionalProperties: false, description: 'switch a chaos fault on (POST /admin/chaos)' },
  ),
  Type.Object({ at: Moment, clearFault: Type.String() }, { additionalProperties: false, description: 'switch a chaos fault off' }),
  Type.Object({ at: Moment, action: Type.String(), params: Type.Optional(Params) }, { additionalProperties: false, description: 'run a chaos action (POST /admin/chaos/actions)' }),
  Type.Object(
    {
      at: Moment,
      admin: Type.Object(
        { method: Type.Union([Type.Literal('GET'), Type.Literal('POST'), Type.Literal('PUT'), Type.Literal('DELETE')]), path: Type.String({ pattern: '^/admin/' }), body: Type.Optional(Type.Unknown()) },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false, description: 'any admin API call (flush, warm, a strategy change mid-phase...)' },
  ),
  Type.Object(
    {
      at: Moment,
      process: Name,
      signal: Type.Union([Type.Literal('SIGKILL'), Type.Literal('SIGTERM'), Type.Literal('SIGSTOP'), Type.Literal('SIGCONT'), Type.Literal('restart')], {
        description: 'SIGSTOP freezes the process (its clients wait: a hung server) until SIGCONT',
      }),
    },
    { additionalProperties: false, description: 'kill, freeze, thaw or restart a process the runner started (local runs only); "redis" is the run\'s own redis-server (deployment.redis "own")' },
  ),
])
export type PhaseEvent = Static<typeof PhaseEvent>

export const Phase = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9+-]*(:[a-z0-9-]+)?$', description: 'the strategy mode the phase tests, or mode:variant (modes may contain "+", e.g. bloom+null-cache)' }),
    description: Type.Optional(Type.String()),
    strategies: Type.Optional(
      Type.Record(Type.String(), Type.Object({ mode: Type.Optional(Type.String()), params: Type.Optional(Params) }, { additionalProperties: false }), {
        description: 'PUT /admin/strategies body applied after the reset to baselines',
      }),
    ),
    warm: Type.Optional(
      Type.Union([Type.Object({ from: Type.Integer({ minimum: 1 }), count: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }), Type.Object({ ids: Type.Array(Id, { minItems: 1 }) }, { additionalProperties: false })], {
        description: 'POST /admin/cache/warm before the load',
      }),
    ),
    workload: Type.Optional(PartialWorkload),
    quick: Type.Optional(PartialWorkload),
    events: Type.Optional(Type.Array(PhaseEvent, { description: 'chaos and admin actions at set moments of the measured part' })),
  },
  { additionalProperties: false },
)
export type Phase = Static<typeof Phase>

const Better = Type.Union([Type.Literal('higher'), Type.Literal('lower'), Type.Literal('none')])
export const FigureDeclaration = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z][A-Za-z0-9.]*$' }),
    label: Type.Optional(Type.String({ description: 'short name in tables and sentences (default: the name in words)' })),
    description: Type.String(),
    better: Better,
    unit: Type.Optional(Type.String({ description: 'e.g. "ratio" (0..1, shown as %), "queries", "ms"' })),
    autoBaseline: Type.Optional(
      Type.Boolean({
        description: 'false: `lab:ci --update` derives no bounds for this figure from a run, because it depends on the machine (absolute latency, say); only hand-set promises in baselines.json gate it (default true)',
      }),
    ),
  },
  { additionalProperties: false },
)
export type FigureDeclaration = Static<typeof FigureDeclaration>

export const ProcessSpec = Type.Object(
  {
    name: Name,
    entry: Type.String({ description: 'TypeScript or JavaScript file, relative to the repository root, run with tsx' }),
    replicas: Type.Optional(Type.Integer({ minimum: 1, maximum: 8 })),
    env: Type.Optional(Type.Record(Type.String(), Type.String())),
    http: Type.Optional(Type.Boolean({ description: 'listens on PORT (given a free one): waited for on /healthz and scraped on /metrics' })),
  },
  { additionalProperties: false },
)
export type ProcessSpec = Static<typeof ProcessSpec>

export const Definition = Type.Object(
  {
    $schema: Type.Optional(Type.String()),
    name: Name,
    title: Type.String(),
    description: Type.String(),
    seed: Type.Object({ orders: Type.Integer({ minimum: 1, maximum: 10_000_000, description: 'orders 1..N loaded before the run' }) }, { additionalProperties: false }),
    deployment: Type.Optional(
      Type.Object(
        {
          replicas: Type.Optional(Type.Integer({ minimum: 1, maximum: 8, description: 'order-service replicas (default 1)' })),
          env: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'extra environment of every order-service replica' })),
          processes: Type.Optional(Type.Array(ProcessSpec, { description: 'other processes to start beside the service (e.g. a queue worker)' })),
          redis: Type.Optional(
            Type.Union([Type.Literal('shared'), Type.Literal('own')], {
              description:
                'shared (default): REDIS_URL\'s server, under a key prefix of the run\'s own; own: a redis-server child of the runner on a free port (local runs), which phase events can stop, freeze and restart as process "redis" without touching a server anyone else uses',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    workload: Workload,
    quick: Type.Optional(PartialWorkload),
    phases: Type.Array(Phase, { minItems: 1 }),
    effects: Type.Array(FigureDeclaration, { description: 'the figures the effects module computes for each phase' }),
    headline: Type.Optional(Type.Array(Type.String(), { minItems: 1, description: 'figures the report sentence and bars compare (default: hitRatio, dbQueriesPer1k and the effects)' })),
    series: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Type.String({ pattern: '^[a-z][A-Za-z0-9]*$' }),
            metric: Type.String({ description: 'metric name, optionally with label matchers: name{label="value"}' }),
            kind: Type.Union([Type.Literal('rate'), Type.Literal('gauge')], { description: 'rate: per-second increase of a counter; gauge: the value' }),
            shared: Type.Optional(
              Type.Boolean({ description: 'gauge read by every process from the same place (a queue depth in Redis): taken from the first process exposing it instead of summed' }),
            ),
            label: Type.Optional(Type.String()),
          },
          { additionalProperties: false },
        ),
        { description: 'extra time series sampled from /metrics (summed over processes, unless shared)' },
      ),
    ),
  },
  { additionalProperties: false },
)
export type Definition = Static<typeof Definition>

const Nullable = <T extends TSchema>(s: T) => Type.Union([s, Type.Null()])

export const Series = Type.Object(
  {
    intervalMs: Type.Integer(),
    t: Type.Array(Type.Number(), { description: 'seconds since the measured start' }),
    requestsPerSec: Type.Array(Type.Number()),
    errorsPerSec: Type.Array(Type.Number()),
    dbQueriesPerSec: Type.Array(Type.Number()),
    hitRatio: Type.Array(Nullable(Type.Number())),
    p99Ms: Type.Array(Nullable(Type.Number())),
    dbInFlight: Type.Array(Type.Number()),
    clientInFlight: Type.Array(Type.Number()),
    extra: Type.Record(Type.String(), Type.Array(Nullable(Type.Number()))),
  },
  { additionalProperties: false },
)
export type Series = Static<typeof Series>

export const PhaseResult = Type.Object(
  {
    name: Type.String(),
    description: Type.Optional(Type.String()),
    strategies: Type.Record(Type.String(), Type.String(), { description: 'the mode of every family during the phase' }),
    strategyParams: Type.Record(Type.String(), Type.Record(Type.String(), Type.Unknown()), { description: 'parameters of the families the phase set' }),
    durationSeconds: Type.Number(),
    requests: Type.Integer({ minimum: 0, description: 'measured requests answered or failed' }),
    errors: Type.Integer({ minimum: 0, description: 'transport failures, timeouts and 5xx answers' }),
    dropped: Type.Integer({ minimum: 0, description: 'open model: requests due that could not be sent (maxInFlight reached)' }),
    statuses: Type.Record(Type.String(), Type.Integer()),
    throughputPerSec: Type.Number(),
    hitRatio: Nullable(Type.Number({ minimum: 0, maximum: 1, description: 'hits / cache lookups' })),
    lookups: Type.Record(Type.String(), Type.Integer(), { description: 'cache lookups by outcome during the phase' }),
    dbQueries: Type.Integer({ minimum: 0, description: 'every query the service sent to MySQL during the phase' }),
    dbQueriesByOperation: Type.Record(Type.String(), Type.Integer()),
    dbQueriesPer1k: Nullable(Type.Number({ minimum: 0, description: 'dbQueries per 1000 requests' })),
    latencyMs: Type.Object(
      { p50: Nullable(Type.Number()), p90: Nullable(Type.Number()), p99: Nullable(Type.Number()), max: Nullable(Type.Number()), mean: Nullable(Type.Number()) },
      { additionalProperties: false },
    ),
    effect: Type.Record(Type.String(), Nullable(Type.Number()), { description: 'the scenario\'s own figures' }),
    events: Type.Array(
      Type.Object({ at: Type.Number(), what: Type.String(), ok: Type.Boolean(), detail: Type.Optional(Type.String()) }, { additionalProperties: false }),
    ),
    series: Series,
  },
  { additionalProperties: false },
)
export type PhaseResult = Static<typeof PhaseResult>

export const Result = Type.Object(
  {
    scenario: Type.String(),
    title: Type.String(),
    quick: Type.Boolean(),
    seed: Type.Integer(),
    startedAt: Type.String({ format: 'date-time' }),
    durationSeconds: Type.Number(),
    target: Type.Object(
      { mode: Type.Union([Type.Literal('local'), Type.Literal('remote')]), baseUrl: Type.String(), replicas: Type.Integer({ minimum: 1 }) },
      { additionalProperties: false },
    ),
    effects: Type.Array(FigureDeclaration, { description: 'what each effect figure means' }),
    headline: Type.Array(Type.String()),
    summary: Type.String({ description: 'what the defense changed, computed from the figures' }),
    phases: Type.Array(PhaseResult, { minItems: 1 }),
  },
  { additionalProperties: false, title: 'cachelab scenario result' },
)
export type Result = Static<typeof Result>

export const LabResult = Type.Object(
  { startedAt: Type.String({ format: 'date-time' }), quick: Type.Boolean(), results: Type.Array(Result) },
  { additionalProperties: false, title: 'cachelab lab run (every scenario)' },
)
export type LabResult = Static<typeof LabResult>

export const Expectation = Type.Object(
  {
    min: Type.Optional(Type.Number()),
    max: Type.Optional(Type.Number()),
    equals: Type.Optional(Type.Number({ description: 'an exact promise (e.g. ordersLost 0); --update keeps it' })),
    abovePhase: Type.Optional(Type.String({ description: 'must be higher than the same figure of that phase in the same run' })),
    belowPhase: Type.Optional(Type.String({ description: 'must be lower than the same figure of that phase in the same run' })),
    phaseFactor: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, description: 'abovePhase / belowPhase compare with the other phase\'s figure times this (default 1): belowPhase with 0.3333 = under a third of it' }),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
)
export type Expectation = Static<typeof Expectation>

export const Baselines = Type.Object(
  {
    $schema: Type.Optional(Type.String()),
    comment: Type.Optional(Type.String()),
    scenarios: Type.Record(
      Type.String(),
      Type.Record(Type.String(), Type.Record(Type.String(), Expectation), { description: 'per phase: figure name (effect name, or hitRatio, dbQueriesPer1k, errors, latencyMs.p99...) → expectation' }),
    ),
  },
  { additionalProperties: false },
)
export type Baselines = Static<typeof Baselines>

/** The generated JSON Schema files: path under scenarios/ → schema. */
export const PUBLISHED_SCHEMAS: Record<string, TSchema> = {
  'definition.schema.json': Definition,
  'result.schema.json': Result,
  'lab-result.schema.json': LabResult,
  'baselines.schema.json': Baselines,
}
