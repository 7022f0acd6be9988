// `migrate:verify`: proves every down.sql undoes its migration.sql, on a
// throwaway database next to the user's (never the user's own): for each
// migration, up -> down -> compare catalog with before up -> up again ->
// compare with after the first up.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { connect, withDatabase, type Connection } from './connection.ts'
import { describeDifference, diffCatalogs, snapshotCatalog, type CatalogDifference } from './catalog.ts'
import { MigrateError } from './errors.ts'
import { INCOMPLETE_DOWN_MARKER, readMigrations } from './files.ts'
import { displayPath, resolved, type CommonOptions } from './options.ts'
import { describeSqlError, excerpt, runInTransaction } from './run-sql.ts'
import { quoteIdent, quoteLiteral } from './sql.ts'

export interface MigrationVerification {
  name: string
  ok: boolean
  problems: string[]
  /** Catalog after up+down compared with before up. */
  downDifferences: CatalogDifference[]
  /** Catalog after up+down+up compared with after the first up. */
  reapplyDifferences: CatalogDifference[]
}

export interface VerifyResult {
  ok: boolean
  /** The throwaway database that was used (already dropped). */
  database: string
  migrations: MigrationVerification[]
  /** True when a failure stopped the run before the last migration. */
  stoppedEarly: boolean
}

export async function verify(opts: CommonOptions): Promise<VerifyResult> {
  const { migrationsDir, logger } = resolved(opts)
  const local = readMigrations(migrationsDir)
  const admin = await connect(opts.url)
  const suffix = `_verify_${randomBytes(4).toString('hex')}`
  const database = admin.target.database.slice(0, 63 - suffix.length) + suffix
  let created = false
  let conn: Connection | undefined
  try {
    const enc = (await admin.client.query<{ e: string; c: string; t: string }>(
      `SELECT pg_encoding_to_char(encoding) AS e, datcollate AS c, datctype AS t FROM pg_database WHERE datname = current_database()`,
    )).rows[0]!
    try {
      await admin.client.query(`CREATE DATABASE ${quoteIdent(database)} TEMPLATE template0 ENCODING ${quoteLiteral(enc.e)} LC_COLLATE ${quoteLiteral(enc.c)} LC_CTYPE ${quoteLiteral(enc.t)}`)
    } catch (err) {
      if ((err as { code?: string }).code === '42501') {
        throw new MigrateError('PERMISSION', `User \`${admin.target.user}\` may not create databases, and verify needs a throwaway one.`, {
          hint: `Grant it: \`ALTER ROLE ${admin.target.user} CREATEDB\`, or run verify against the embedded server (unset DATABASE_URL)`,
          cause: err,
        })
      }
      throw err
    }
    created = true
    logger.info(`Using: throwaway database ${database} (dropped afterwards)`)
    conn = await connect(withDatabase(opts.url, database), { applicationName: 'wateen-migrate-verify' })
    const c = conn.client
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(conn.target.schema)}`)
    const schema = conn.target.schema
    const results: MigrationVerification[] = []
    let stoppedEarly = false
    for (const m of local) {
      const t0 = performance.now()
      const v: MigrationVerification = { name: m.name, ok: true, problems: [], downDifferences: [], reapplyDifferences: [] }
      results.push(v)
      const up = readFileSync(m.sqlPath, 'utf8')
      const run = async (sql: string, file: string, phase: string): Promise<boolean> => {
        try {
          await runInTransaction(c, sql, file)
          return true
        } catch (err) {
          const f = describeSqlError(err, sql)
          v.problems.push(`${phase} failed: ${f.message}${f.statement ? `\n  at ${file} line ${f.line}:\n${excerpt(f.statement).join('\n')}` : ''}`)
          return false
        }
      }
      const upFile = displayPath(m.sqlPath)
      const downFile = displayPath(path.join(m.dir, 'down.sql'))
      const before = await snapshotCatalog(c, schema)
      if (!(await run(up, upFile, 'up'))) {
        stoppedEarly = true
      } else {
        const afterUp = await snapshotCatalog(c, schema)
        if (m.down === undefined) v.problems.push(`no down.sql: it cannot be rolled back`)
        else if (m.down.includes(INCOMPLETE_DOWN_MARKER)) v.problems.push(`down.sql is an unfinished stub (${INCOMPLETE_DOWN_MARKER})`)
        else if (await run(m.down, downFile, 'down')) {
          v.downDifferences = diffCatalogs(before, await snapshotCatalog(c, schema))
          for (const d of v.downDifferences) v.problems.push(`after down: ${describeDifference(d)}`)
          if (await run(up, upFile, 'up again after down')) {
            v.reapplyDifferences = diffCatalogs(afterUp, await snapshotCatalog(c, schema))
            for (const d of v.reapplyDifferences) v.problems.push(`after up again: ${describeDifference(d)}`)
          } else stoppedEarly = true
        }
      }
      v.ok = v.problems.length === 0
      const ms = Math.round(performance.now() - t0)
      if (v.ok) logger.info(`Verified: ${m.name} in ${ms}ms`)
      else {
        logger.info(`Problem: ${m.name}`)
        for (const p of v.problems) for (const line of p.split('\n')) logger.info(`  ${line}`)
      }
      if (stoppedEarly) break
    }
    return { ok: results.every((r) => r.ok) && !stoppedEarly, database, migrations: results, stoppedEarly }
  } finally {
    await conn?.close()
    if (created) {
      await admin.client.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`).catch(async () => {
        await admin.client.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`).catch(() => {
          logger.warn(`could not drop throwaway database \`${database}\`; drop it by hand`)
        })
      })
    }
    await admin.close()
  }
}
