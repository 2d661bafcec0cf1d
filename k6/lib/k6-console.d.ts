// k6's console (log, debug, info, warn, error: lines in k6's output) is a global that @types/k6
// does not declare; without the DOM or Node types, declare what k6 has and nothing more.
export {}

declare global {
  var console: {
    log(...args: unknown[]): void
    debug(...args: unknown[]): void
    info(...args: unknown[]): void
    warn(...args: unknown[]): void
    error(...args: unknown[]): void
  }
}
