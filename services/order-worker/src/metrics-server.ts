import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Metrics } from '../../order-service/src/metrics.js'

export interface MetricsServer {
  port: number
  close(): Promise<void>
}

/** The worker's tiny HTTP listener: GET /metrics (Prometheus) and GET /healthz (its state). */
export function startMetricsServer(opts: { port: number; host: string; metrics: Metrics; status: () => object }): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type })
      res.end(body)
    }
    if (req.method !== 'GET') return send(405, 'application/json', JSON.stringify({ statusCode: 405, message: 'only GET is served here' }))
    if (path === '/metrics') {
      opts.metrics.registry.metrics().then(
        (text) => send(200, opts.metrics.registry.contentType, text),
        (err: Error) => send(500, 'text/plain', `metrics failed: ${err.message}`),
      )
      return
    }
    if (path === '/healthz') return send(200, 'application/json', JSON.stringify({ status: 'ok', ...opts.status() }))
    send(404, 'application/json', JSON.stringify({ statusCode: 404, message: `no route GET ${path}; try /metrics or /healthz` }))
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject)
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections()
            server.close(() => done())
          }),
      })
    })
  })
}
