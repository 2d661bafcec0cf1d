import type { FastifyBaseLogger } from 'fastify'

type Bindings = Parameters<FastifyBaseLogger['child']>[0]
type ChildLoggerOptions = NonNullable<Parameters<FastifyBaseLogger['child']>[1]>

// pino's default levels; anything else (a custom level) makes the child build itself.
const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity }

/**
 * Fastify gives every request a pino child logger carrying its request id, and pino serializes
 * the bindings when the child is made: about 1.5 µs per request (bench/profile.ts), though a
 * cache hit logs nothing at the levels the service runs under load. This child is built on the
 * first call that would write a line, with the same bindings and options, so whatever is logged
 * for a request still carries its reqId.
 */
class LazyChildLogger implements FastifyBaseLogger {
  private built: FastifyBaseLogger | undefined

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly opts: ChildLoggerOptions,
  ) {}

  private get logger(): FastifyBaseLogger {
    return (this.built ??= this.parent.child(this.bindings, this.opts))
  }

  private writes(level: string): boolean {
    if (this.built) return true
    const threshold = LEVELS[this.level]
    return threshold === undefined || LEVELS[level]! >= threshold
  }

  get level(): string {
    return this.built?.level ?? this.opts.level ?? this.parent.level
  }

  set level(level: string) {
    this.logger.level = level
  }

  // Prototype methods, not arrow fields: one allocation per request, not seven.
  fatal(...args: unknown[]): void {
    this.call('fatal', args)
  }
  error(...args: unknown[]): void {
    this.call('error', args)
  }
  warn(...args: unknown[]): void {
    this.call('warn', args)
  }
  info(...args: unknown[]): void {
    this.call('info', args)
  }
  debug(...args: unknown[]): void {
    this.call('debug', args)
  }
  trace(...args: unknown[]): void {
    this.call('trace', args)
  }
  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.logger.child(bindings, options)
  }

  private call(level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace', args: unknown[]): void {
    if (this.writes(level)) (this.logger[level] as (...a: unknown[]) => void)(...args)
  }
}

/** Fastify's `childLoggerFactory`: the request's child logger, built on first use. */
export function lazyChildLogger(logger: FastifyBaseLogger, bindings: Bindings, opts: ChildLoggerOptions): FastifyBaseLogger {
  return new LazyChildLogger(logger, bindings, opts)
}
