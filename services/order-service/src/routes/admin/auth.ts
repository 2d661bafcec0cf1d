import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { Unauthorized } from '../../errors.js'

/**
 * An onRequest hook for the admin scope: `Authorization: Bearer <token>`, compared in constant
 * time (digests have equal length whatever the input, so length leaks nothing either).
 */
export function requireToken(token: string) {
  const expected = createHash('sha256').update(token).digest()
  return async (req: FastifyRequest) => {
    const header = req.headers.authorization
    if (!header) throw new Unauthorized('admin API: missing "Authorization: Bearer <token>" header')
    const match = /^Bearer\s+(\S+)$/i.exec(header)
    const given = createHash('sha256').update(match?.[1] ?? '').digest()
    if (!match || !timingSafeEqual(given, expected)) throw new Unauthorized('admin API: invalid token')
  }
}
