// One implementation, the runner's: tests and the lab pick ports the same way.
export { freePort } from '../../scenarios/runner/processes.js'
