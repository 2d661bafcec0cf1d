import { writeFileSync } from 'node:fs'
import { PUBLISHED_SCHEMAS } from './schemas.js'

// Regenerates the JSON Schema files in scenarios/ from schemas.ts (`npm run lab:schemas`).
export function schemaFileText(schema: unknown): string {
  return `${JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...(schema as object) }, null, 2)}\n`
}

if (process.argv[1]?.endsWith('write-schemas.ts')) {
  for (const [file, schema] of Object.entries(PUBLISHED_SCHEMAS)) {
    writeFileSync(new URL(`../${file}`, import.meta.url), schemaFileText(schema))
    console.log(`wrote scenarios/${file}`)
  }
}
