// `migrate:verify`: proves every down.sql undoes its migration.sql, on a
// throwaway database next to the user's (never the user's own): for each
// migration, up -> down -> compare catalog with before up -> up again ->
// compare with after the first up. Then, on data: the throwaway database is
// seeded, and for each migration from the top a copy of it is rolled back to
// just before that migration (accepting the loss), the loss report is checked
// against two brute-force counts, and every migration is applied again.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { connect, withDatabase, type Connection } from './connection.ts'
import { describeDifference, diffCatalogs, droppedColumns, snapshotCatalog, type CatalogDifference } from './catalog.ts'
import { INCOMPLETE_DOWN_MARKER, readMigrations, type LocalMigration } from './files.ts'
import type { Logger } from './logger.ts'
import { defaultMigrationsDir, displayPath, resolved, type CommonOptions } from './options.ts'
import { census, compareLoss } from './census.ts'
import { createLike } from './throwaway.ts'
import { deploy } from './deploy.ts'
import { rollback } from './rollback.ts'
import { describeFailure, excerpt, runStandalone } from './runner.ts'
import { runSeed } from './seed.ts'
import { quoteIdent } from './sql.ts'

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
  /** The round trips on seeded data, newest migration first (empty when not seeded). */
  onData: Array<{ name: string; ok: boolean; problems: string[] }>
}

export interface VerifyOptions extends CommonOptions {
  /**
   * Also seed and round-trip on data (`prisma db seed`). Default: only for
   * the project's own migrations folder, the one its seed is written for.
   */
  seed?: boolean
}

const VERIFY_MARK = '_verify_'

/** One migration up, down (catalog compared with before) and up again (compared with after), through the runner. */
async function roundTripOne(c: Connection['client'], schema: string, m: LocalMigration): Promise<{ v: MigrationVerification; stopped: boolean }> {
  let stoppedEarly = false
  const v: MigrationVerification = { name: m.name, ok: true, problems: [], downDifferences: [], reapplyDifferences: [] }
  const up = readFileSync(m.sqlPath, 'utf8')
  const run = async (sql: string, file: string, phase: string): Promise<boolean> => {
    try {
      await runStandalone(c, file, sql, { kind: phase === 'down' ? 'down' : 'migration' })
      return true
    } catch (err) {
      const f = describeFailure(err)
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
      v.downDifferences = diffCatalogs(before, await snapshotCatalog(c, schema), { readdedColumns: droppedColumns(before, afterUp) })
      for (const d of v.downDifferences) v.problems.push(`after down: ${describeDifference(d)}`)
      if (await run(up, upFile, 'up again after down')) {
        v.reapplyDifferences = diffCatalogs(afterUp, await snapshotCatalog(c, schema))
        for (const d of v.reapplyDifferences) v.problems.push(`after up again: ${describeDifference(d)}`)
      } else stoppedEarly = true
    }
  }
  v.ok = v.problems.length === 0
  return { v, stopped: stoppedEarly }
}

export async function verify(opts: VerifyOptions): Promise<VerifyResult> {
  const { migrationsDir, logger } = resolved(opts)
  const local = readMigrations(migrationsDir)
  const admin = await connect(opts.url)
  const suffix = `${VERIFY_MARK}${randomBytes(4).toString('hex')}`
  const prefix = admin.target.database.slice(0, 63 - suffix.length)
  const database = prefix + suffix
  const copies: string[] = []
  let created = false
  let conn: Connection | undefined
  try {
    await dropLeftovers(admin, prefix, logger)
    await createLike(admin, database, 'verify needs a throwaway one')
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
      const { v, stopped } = await roundTripOne(c, schema, m)
      results.push(v)
      stoppedEarly = stopped
      const ms = Math.round(performance.now() - t0)
      if (v.ok) logger.info(`Verified: ${m.name} in ${ms}ms`)
      else {
        logger.info(`Problem: ${m.name}`)
        for (const p of v.problems) for (const line of p.split('\n')) logger.info(`  ${line}`)
      }
      if (stoppedEarly) break
    }
    const onData: VerifyResult['onData'] = []
    const seed = opts.seed ?? path.resolve(migrationsDir) === path.resolve(defaultMigrationsDir())
    if (seed && results.every((r) => r.ok) && !stoppedEarly) {
      const url = withDatabase(opts.url, database)
      // Start again through the real deploy, so the history table says what is applied.
      await c.query(`DROP SCHEMA ${quoteIdent(schema)} CASCADE; CREATE SCHEMA ${quoteIdent(schema)}`)
      await deploy({ url, migrationsDir })
      logger.info('Seeding: the throwaway database (npx prisma db seed)')
      await runSeed({ url })
      await conn.close()
      // Newest first: roll back the top 1, 2, ... n migrations of a fresh copy each time.
      for (let steps = 1; steps <= local.length; steps++) {
        const name = local[local.length - steps]!.name
        const t0 = performance.now()
        const copy = `${prefix}${VERIFY_MARK}${randomBytes(4).toString('hex')}`
        await admin.client.query(`CREATE DATABASE ${quoteIdent(copy)} TEMPLATE ${quoteIdent(database)}`)
        copies.push(copy)
        const copyUrl = withDatabase(opts.url, copy)
        const problems: string[] = []
        const probe = await connect(copyUrl, { applicationName: 'wateen-migrate-verify' })
        try {
          const before = await census(probe.client, probe.target.schema)
          const r = await rollback({ url: copyUrl, migrationsDir, steps, acceptDataLoss: true }).catch((err: Error) => {
            problems.push(`rollback of ${steps} failed: ${err.message}`)
            return undefined
          })
          if (r) {
            for (const p of compareLoss(r.loss.items, before, await census(probe.client, probe.target.schema))) problems.push(`loss report wrong: ${p}`)
            await deploy({ url: copyUrl, migrationsDir }).catch((err: Error) => problems.push(`applying again after the rollback failed: ${err.message}`))
          }
        } finally {
          await probe.close()
        }
        await admin.client.query(`DROP DATABASE IF EXISTS ${quoteIdent(copy)} WITH (FORCE)`)
        copies.pop()
        onData.push({ name, ok: problems.length === 0, problems })
        const ms = Math.round(performance.now() - t0)
        if (!problems.length) logger.info(`Verified on data: down to before ${name} and up again in ${ms}ms`)
        else {
          logger.info(`Problem on data: rolling back to before ${name}`)
          for (const p of problems) logger.info(`  ${p}`)
        }
      }
    }
    return { ok: results.every((r) => r.ok) && !stoppedEarly && onData.every((d) => d.ok), database, migrations: results, stoppedEarly, onData }
  } finally {
    await conn?.close()
    for (const c of copies) await admin.client.query(`DROP DATABASE IF EXISTS ${quoteIdent(c)} WITH (FORCE)`).catch(() => {})
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

/**
 * Throwaway databases of an earlier verify that was killed part-way: named
 * after this database with the verify mark, and nobody connected to them.
 */
async function dropLeftovers(admin: Connection, prefix: string, logger: Logger): Promise<void> {
  const r = await admin.client.query<{ datname: string }>(
    `SELECT d.datname FROM pg_database d
      WHERE starts_with(d.datname, $1) AND d.datname ~ $2
        AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datid = d.oid)`,
    [prefix + VERIFY_MARK, `^.{${prefix.length}}${VERIFY_MARK}[0-9a-f]{8}$`],
  )
  for (const { datname } of r.rows) {
    await admin.client.query(`DROP DATABASE IF EXISTS ${quoteIdent(datname)}`).catch(() => {})
    logger.info(`Dropped: throwaway database ${datname}, left by a verify that was stopped`)
  }
}
