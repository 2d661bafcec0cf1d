// @ts-check
// The consistency scenario under k6: the phases, workload, events and baselines of
// scenarios/definitions/consistency.json, as the Node runner runs them (see k6/lib/cachelab.js).
//   docker compose --profile load run --rm k6 run /k6/consistency.js
//   k6 run -e BASE_URL=http://localhost:3000 -e ADMIN_TOKEN=... k6/consistency.js
import { cachelabScenario } from './lib/cachelab.js'

const lab = cachelabScenario('consistency', () => open('../scenarios/definitions/consistency.json'), () => open('../scenarios/baselines.json'))

export const options = lab.options
export const setup = lab.setup
export const teardown = lab.teardown
export const handleSummary = lab.handleSummary
export const phaseSetup = lab.phaseSetup
export const phaseLoad = lab.phaseLoad
export const phaseEvent = lab.phaseEvent
