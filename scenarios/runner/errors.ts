/**
 * An error the user can fix (bad flag, unknown scenario, unreachable server): the CLI prints its
 * message as one line and exits non-zero, without a stack trace. Anything else is a bug.
 */
export class LabError extends Error {
  override name = 'LabError'
  constructor(
    message: string,
    /** Exit code: 2 for bad input, 1 for everything else. */
    readonly exitCode = 1,
  ) {
    super(message)
  }
}

/** Bad command-line input: exit code 2. */
export class UsageError extends LabError {
  override name = 'UsageError'
  constructor(message: string) {
    super(message, 2)
  }
}

/** The error's message plus its cause's code, for one-line reports of network failures. */
export function describeError(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return describeError(err.errors[0])
  const e = err as { message?: string; code?: string; cause?: unknown }
  const code = e.code ?? (e.cause as { code?: string } | undefined)?.code
  const msg = e.message || code || String(err)
  return code && !msg.includes(code) ? `${msg} (${code})` : msg
}
