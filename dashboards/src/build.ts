import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { renderAll } from './index.js'

// `npm run dashboards` writes dashboards/json/ from the TypeScript descriptions (and removes JSON
// files no description produces); `-- --check` only reports differences and exits 1 on any.
const OUT_DIR = fileURLToPath(new URL('../json/', import.meta.url))
const check = process.argv.includes('--check')

const wanted = renderAll()
const present = (await readdir(OUT_DIR)).filter((f) => f.endsWith('.json'))
const stale: string[] = []
for (const [file, text] of wanted) {
  const current = await readFile(OUT_DIR + file, 'utf8').catch(() => undefined)
  if (current === text) continue
  stale.push(file)
  if (!check) await writeFile(OUT_DIR + file, text)
}
const extra = present.filter((f) => !wanted.has(f))
for (const file of extra) if (!check) await rm(OUT_DIR + file)

if (check) {
  if (stale.length > 0 || extra.length > 0) {
    console.error(`dashboards/json is out of date (${[...stale, ...extra].join(', ')}): run npm run dashboards`)
    process.exit(1)
  }
  console.log(`dashboards/json is up to date (${wanted.size} dashboards)`)
} else {
  console.log(`dashboards/json: ${wanted.size} dashboards, ${stale.length} rewritten${extra.length ? `, ${extra.length} removed (${extra.join(', ')})` : ''}`)
}
