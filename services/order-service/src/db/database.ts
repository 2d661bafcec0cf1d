import mysql from 'mysql2/promise'
import { databaseOf, serverUrlOf } from './pool.js'

/** Creates the database named in the URL when it does not exist yet. */
export async function ensureDatabase(url: string): Promise<void> {
  const conn = await mysql.createConnection({ uri: serverUrlOf(url), connectTimeout: 5000 })
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${databaseOf(url)}\``)
  } finally {
    await conn.end()
  }
}

/** Drops the database named in the URL (tests). */
export async function dropDatabase(url: string): Promise<void> {
  const conn = await mysql.createConnection({ uri: serverUrlOf(url), connectTimeout: 5000 })
  try {
    await conn.query(`DROP DATABASE IF EXISTS \`${databaseOf(url)}\``)
  } finally {
    await conn.end()
  }
}
