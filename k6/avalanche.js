// @ts-check
// The avalanche scenario under k6: the phases, workload, events and baselines of
// scenarios/definitions/avalanche.json, as the Node runner runs them (see k6/lib/cachelab.js).
//   docker compose --profile load run --rm k6 run /k6/avalanche.js
//   k6 run -e BASE_URL=http://localhost:3000 -e ADMIN_TOKEN=... k6/avalanche.js
import { cachelabScenario } from './lib/cachelab.js'

const lab = cachelabScenario('avalanche', () => open('../scenarios/definitions/avalanche.json'), () => open('../scenarios/baselines.json'))

export const options = lab.options
export const setup = lab.setup
export const teardown = lab.teardown
export const handleSummary = lab.handleSummary
export const phaseSetup = lab.phaseSetup
export const phaseLoad = lab.phaseLoad
export const phaseEvent = lab.phaseEvent
