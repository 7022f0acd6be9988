// A throwaway database next to the user's (never the user's own), created
// like it (encoding, collation) with the URL's schema, and dropped afterwards:
// `migrate:verify` and the round trip of generated down.sql files run there.
import { randomBytes } from 'node:crypto'
import { connect, withDatabase, type Connection } from './connection.ts'
import { MigrateError } from './errors.ts'
import { quoteIdent, quoteLiteral } from './sql.ts'

/**
 * Creates `database` on `admin`'s server with the encoding and collation of
 * `admin`'s own database; a role without CREATEDB gets the grant it lacks.
 */
export async function createLike(admin: Connection, database: string, why: string): Promise<void> {
  const enc = (await admin.client.query<{ e: string; c: string; t: string }>(
    `SELECT pg_encoding_to_char(encoding) AS e, datcollate AS c, datctype AS t FROM pg_database WHERE datname = current_database()`,
  )).rows[0]!
  try {
    await admin.client.query(`CREATE DATABASE ${quoteIdent(database)} TEMPLATE template0 ENCODING ${quoteLiteral(enc.e)} LC_COLLATE ${quoteLiteral(enc.c)} LC_CTYPE ${quoteLiteral(enc.t)}`)
  } catch (err) {
    if ((err as { code?: string }).code === '42501') {
      throw new MigrateError('PERMISSION', `User \`${admin.target.user}\` may not create databases, and ${why}.`, {
        hint: `Grant it: \`ALTER ROLE ${admin.target.user} CREATEDB\`, or use the embedded server (unset DATABASE_URL)`,
        cause: err,
      })
    }
    throw err
  }
}

export async function withThrowawayDatabase<T>(url: string, label: string, fn: (conn: Connection, database: string) => Promise<T>, onDropFailed?: (database: string) => void): Promise<T> {
  const admin = await connect(url)
  const suffix = `_${label}_${randomBytes(4).toString('hex')}`
  const database = admin.target.database.slice(0, 63 - suffix.length) + suffix
  let created = false
  let conn: Connection | undefined
  try {
    await createLike(admin, database, 'this needs a throwaway one')
    created = true
    conn = await connect(withDatabase(url, database), { applicationName: `wateen-migrate-${label}` })
    await conn.client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(conn.target.schema)}`)
    return await fn(conn, database)
  } finally {
    await conn?.close()
    if (created) {
      await admin.client.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`).catch(async () => {
        await admin.client.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`).catch(() => onDropFailed?.(database))
      })
    }
    await admin.close()
  }
}
