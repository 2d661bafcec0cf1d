import Fastify from 'fastify'
import { Writable } from 'node:stream'
import { expect, it } from 'vitest'
import { lazyChildLogger } from '../../services/order-service/src/lazy-child-logger.js'

function capture() {
  const lines: Record<string, unknown>[] = []
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    },
  })
  return { lines, stream }
}

it('a request that logs nothing builds no child; one that logs gets its reqId', async () => {
  const { lines, stream } = capture()
  const app = Fastify({ logger: { level: 'warn', stream }, childLoggerFactory: lazyChildLogger })
  let built = 0
  const child = app.log.child.bind(app.log)
  app.log.child = (...args: Parameters<typeof child>) => {
    built++
    return child(...args)
  }
  app.get('/quiet', async (req) => {
    req.log.info('below the level: not written')
    return 'ok'
  })
  app.get('/loud', async (req) => {
    req.log.warn({ what: 'x' }, 'written')
    req.log.error('written too')
    return 'ok'
  })
  await app.ready()
  await app.inject('/quiet')
  expect(built).toBe(0)
  const res = await app.inject('/loud')
  expect(res.statusCode).toBe(200)
  expect(built).toBe(1)
  const written = lines.filter((l) => l.msg === 'written' || l.msg === 'written too')
  expect(written).toHaveLength(2)
  expect(new Set(written.map((l) => l.reqId)).size).toBe(1)
  expect(written[0]!.reqId).toMatch(/^req-/)
  expect(written[0]!.what).toBe('x')
  expect(lines.some((l) => l.msg === 'below the level: not written')).toBe(false)
  await app.close()
})

it('follows the level of its route and of the parent', async () => {
  const { lines, stream } = capture()
  const app = Fastify({ logger: { level: 'warn', stream }, childLoggerFactory: lazyChildLogger })
  app.get('/debug', { logLevel: 'debug' }, async (req) => {
    req.log.debug('route level debug')
    return req.log.level
  })
  await app.ready()
  const res = await app.inject('/debug')
  expect(res.body).toBe('debug')
  expect(lines.some((l) => l.msg === 'route level debug')).toBe(true)
  await app.close()
})
