import type { FastifyInstance } from 'fastify'

/** The app's /metrics, parsed: the value of one series (0 when absent). Labels as in the text, e.g. `outcome="hit"`. */
export async function scrape(app: FastifyInstance): Promise<(name: string, labels?: string) => number> {
  const text = (await app.inject('/metrics')).body
  const values = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const cut = line.lastIndexOf(' ')
    values.set(line.slice(0, cut), Number(line.slice(cut + 1)))
  }
  return (name, labels) => values.get(labels ? `${name}{${labels}}` : name) ?? 0
}

/** One series' value now. */
export async function metric(app: FastifyInstance, name: string, labels?: string): Promise<number> {
  return (await scrape(app))(name, labels)
}
