// Types of cachelab.js, for the Node tests that run it with a shim of k6's API
// (test/integration/k6-scripts.test.ts). k6/tsconfig.json checks cachelab.js itself.
// (Node cannot resolve @types/k6's modules: the options are typed here as far as the tests read them.)
export interface CachelabOptions {
  scenarios: Record<string, { executor: string; exec: string; startTime: string; env: Record<string, string>; tags: Record<string, string> } & Record<string, unknown>>
  thresholds: Record<string, (string | { threshold: string; abortOnFail?: boolean })[]>
  tags: { testid: string }
  systemTags: string[]
  [option: string]: unknown
}

export interface CachelabScenario {
  options: CachelabOptions
  setup(): { testid: string | undefined; startedAt: string }
  teardown(): void
  handleSummary(data: unknown): Record<string, string>
  phaseSetup(): void
  phaseLoad(): void
  phaseEvent(): void
}

export declare function cachelabScenario(name: string, readDefinition: () => string, readBaselines: () => string): CachelabScenario
