// `migrate:rollback`: undo applied migrations with their down.sql, newest
// first. The whole plan is worked out and validated under the migration lock
// before the first statement; then each step runs its down.sql and deletes its
// `_prisma_migrations` row in ONE transaction.
import path from 'node:path'
import type pg from 'pg'
import { connect, type Connection } from './connection.ts'
import { MigrateError } from './errors.ts'
import { INCOMPLETE_DOWN_MARKER, readMigrations, resolveMigrationName, type LocalMigration } from './files.ts'
import { deleteRow, readHistory, type HistoryRow } from './history.ts'
import { withMigrationLock } from './lock.ts'
import type { Logger } from './logger.ts'
import { displayPath, resolved, type CommonOptions } from './options.ts'
import { describeSqlError, isServerError, runInTransaction, sqlFailureError } from './run-sql.ts'
import { findDataDrops, quoteIdent, type DataDrop } from './sql.ts'
import { computeStatus } from './state.ts'

export interface RollbackOptions extends CommonOptions {
  /** How many applied migrations to undo (default 1). */
  steps?: number
  /** Undo every applied migration after this one and keep it (full folder name, or name without its number when unambiguous). */
  to?: string
  /** Work out and return the plan; change nothing. */
  dryRun?: boolean
}

export interface DataAtRisk {
  drop: DataDrop
  /** Table or column does not exist (any more): nothing to lose. */
  exists: boolean
  rows: number
  /** For column drops: rows where the column is not null. */
  nonNull?: number
}

export interface RollbackStep {
  name: string
  downPath: string
  downSql: string
  rowId: string
  /** Filled for dry runs: what the DROP TABLE / DROP COLUMN statements would destroy right now. */
  dataAtRisk?: DataAtRisk[]
}

export interface RollbackResult {
  dryRun: boolean
  /** Newest first, the order they are (or would be) undone in. */
  plan: RollbackStep[]
  rolledBack: Array<{ name: string; durationMs: number }>
  /** The migration that is the latest applied one afterwards (undefined when none). */
  remainingLatest: string | undefined
}

function badArgument(message: string, hint: string, details: string[] = []): MigrateError {
  return new MigrateError('BAD_ARGUMENT', message, { hint, details })
}

/** Checks the arguments alone (no database): steps is a positive integer, not both steps and to. */
export function validateRollbackArgs(opts: { steps?: number | undefined; to?: string | undefined }): void {
  if (opts.steps !== undefined && opts.to !== undefined) {
    throw badArgument('`--steps` and `--to` cannot be used together.', 'Use one: `npm run migrate:rollback -- --steps=2` or `npm run migrate:rollback -- --to=<migration>`')
  }
  if (opts.steps !== undefined && (!Number.isInteger(opts.steps) || opts.steps < 1)) {
    throw badArgument(`\`--steps\` must be a whole number of at least 1, got \`${opts.steps}\`.`, 'Example: `npm run migrate:rollback -- --steps=2`')
  }
  if (opts.to !== undefined && opts.to.trim() === '') throw badArgument('`--to` needs a migration name.', 'Example: `npm run migrate:rollback -- --to=001_create_users_table`')
}

export async function rollback(opts: RollbackOptions): Promise<RollbackResult> {
  validateRollbackArgs(opts)
  const { migrationsDir, logger } = resolved(opts)
  const local = readMigrations(migrationsDir)
  const conn = await connect(opts.url)
  try {
    return await withMigrationLock(conn.client, () => rollbackLocked(conn, local, opts, logger), {
      logger,
      ...(opts.lockTimeoutMs !== undefined ? { timeoutMs: opts.lockTimeoutMs } : {}),
    })
  } finally {
    await conn.close()
  }
}

async function rollbackLocked(conn: Connection, local: LocalMigration[], opts: RollbackOptions, logger: Logger): Promise<RollbackResult> {
  const { client, target } = conn
  const status = computeStatus(local, await readHistory(client, target.schema))
  const applied = status.entries.filter((e) => e.state === 'applied')
  const failed = status.entries.filter((e) => e.state === 'failed')
  if (failed.length > 0) logger.warn(`\`${failed[0]!.name}\` is recorded as failed; it is not rolled back (it changed nothing). Resolve it with \`npx prisma migrate resolve --rolled-back ${failed[0]!.name}\``)

  // 1. Which migrations, newest first.
  let toUndo: typeof applied
  if (opts.to !== undefined) {
    const found = resolveMigrationName(opts.to, status.entries.map((e) => e.name))
    if ('error' in found) {
      if (found.error === 'ambiguous') {
        throw badArgument(`\`--to=${opts.to}\` matches ${found.candidates.length} migrations.`, `Use the full folder name, e.g. \`npm run migrate:rollback -- --to=${found.candidates[0]}\``, found.candidates.map((c) => `    ${c}`))
      }
      throw badArgument(
        `No migration named \`${opts.to}\`.`,
        applied.length ? `Pick one from \`npm run migrate:status\`, e.g. \`npm run migrate:rollback -- --to=${applied[0]!.name}\`` : 'Run `npm run migrate:status` to see the migrations',
        found.candidates.map((c) => `    did you mean ${c}?`),
      )
    }
    const keep = status.entries.find((e) => e.name === found.name)!
    if (keep.state !== 'applied') {
      throw badArgument(`\`${found.name}\` is not applied (${keep.state.replace('_', ' ')}), so the database cannot be rolled back to it.`, 'Run `npm run migrate:status` and pick an applied migration')
    }
    toUndo = applied.filter((e) => e.name > found.name).reverse()
  } else {
    const steps = opts.steps ?? 1
    if (applied.length === 0) throw badArgument('Nothing to roll back: no migrations are applied.', 'Run `npm run migrate:status`')
    if (steps > applied.length) {
      throw badArgument(`Cannot roll back ${steps} migrations: only ${applied.length} ${applied.length === 1 ? 'is' : 'are'} applied.`, `Use \`--steps=${applied.length}\` or fewer (or \`npm run migrate:reset\` to start over)`)
    }
    toUndo = applied.slice(applied.length - steps).reverse()
  }

  // 2. Validate every step before touching anything.
  const plan: RollbackStep[] = []
  for (const e of toUndo) {
    const m = e.local
    if (!m) {
      throw new MigrateError('NO_DOWN', `Cannot roll back \`${e.name}\`: it is applied but its folder is missing from the migrations folder.`, {
        hint: 'Restore the folder (e.g. from git), then run the rollback again',
      })
    }
    const downFile = displayPath(m.downPath)
    if (m.down === undefined) {
      throw new MigrateError('NO_DOWN', `Cannot roll back \`${e.name}\`: \`${downFile}\` does not exist.`, { hint: `Write ${downFile} (SQL that undoes migration.sql), then run \`npm run migrate:verify\`` })
    }
    if (m.down.includes(INCOMPLETE_DOWN_MARKER)) {
      throw new MigrateError('NO_DOWN', `Cannot roll back \`${e.name}\`: \`${downFile}\` is a stub that was never completed.`, { hint: `Complete ${downFile} and remove its \`${INCOMPLETE_DOWN_MARKER}\` line, then run \`npm run migrate:verify\`` })
    }
    if (e.checksumMatches === false) {
      throw new MigrateError('HISTORY_CONFLICT', `Cannot roll back \`${e.name}\`: its migration.sql changed after it was applied, so down.sql may not undo what actually ran.`, {
        hint: `Restore the applied version of ${displayPath(m.sqlPath)} (e.g. \`git log -p -- ${displayPath(m.sqlPath)}\`), then run the rollback again`,
      })
    }
    plan.push({ name: e.name, downPath: m.downPath, downSql: m.down, rowId: (e.row as HistoryRow).id })
  }
  const remainingLatest = applied.filter((e) => !toUndo.includes(e)).at(-1)?.name

  if (opts.dryRun) {
    for (const step of plan) step.dataAtRisk = await measureDrops(client, target.schema, step.downSql)
    return { dryRun: true, plan, rolledBack: [], remainingLatest }
  }

  // 3. Run: one transaction per step.
  const rolledBack: RollbackResult['rolledBack'] = []
  for (const step of plan) {
    logger.info(`Rolling back: ${step.name}`)
    const t0 = performance.now()
    try {
      await runInTransaction(client, step.downSql, {
        after: async () => {
          if ((await deleteRow(client, target.schema, step.rowId)) !== 1) throw new Error(`the \`_prisma_migrations\` row of \`${step.name}\` vanished during the rollback`)
        },
      })
    } catch (err) {
      const file = displayPath(path.join(path.dirname(step.downPath), 'down.sql'))
      const done = rolledBack.length ? [`Already rolled back before this failure: ${rolledBack.map((r) => r.name).join(', ')}.`] : []
      if (!isServerError(err)) {
        throw new MigrateError('ROLLBACK_FAILED', `Rolling back \`${step.name}\` was interrupted: ${(err as Error).message}. It is still applied.`, { hint: 'Run `npm run migrate:status`', cause: err, details: done })
      }
      throw sqlFailureError('ROLLBACK_FAILED', `Rolling back \`${step.name}\` failed; that step was undone, so \`${step.name}\` is still applied`, file, describeSqlError(err, step.downSql), {
        cause: err,
        hint: `Fix ${file}, then run \`npm run migrate:rollback -- --dry-run\` to check the plan`,
        extra: done,
      })
    }
    const durationMs = Math.round(performance.now() - t0)
    rolledBack.push({ name: step.name, durationMs })
    logger.info(`Rolled back: ${step.name} in ${durationMs}ms`)
  }
  return { dryRun: false, plan, rolledBack, remainingLatest }
}

/** Counts what the DROP TABLE / DROP COLUMN statements of a down.sql would destroy now. */
export async function measureDrops(client: pg.Client, schema: string, downSql: string): Promise<DataAtRisk[]> {
  const out: DataAtRisk[] = []
  for (const drop of findDataDrops(downSql)) {
    const rel = `${quoteIdent(drop.table.schema ?? schema)}.${quoteIdent(drop.table.name)}`
    const exists = (await client.query<{ ok: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS ok`, [rel])).rows[0]!.ok
    if (!exists) {
      out.push({ drop, exists: false, rows: 0 })
      continue
    }
    if (drop.kind === 'table') {
      const r = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${rel}`)
      out.push({ drop, exists: true, rows: Number(r.rows[0]!.n) })
      continue
    }
    const col = await client.query(`SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped AND attnum > 0`, [rel, drop.column])
    if (col.rowCount === 0) {
      out.push({ drop, exists: false, rows: 0 })
      continue
    }
    const r = await client.query<{ n: string; nn: string }>(`SELECT count(*) AS n, count(${quoteIdent(drop.column)}) AS nn FROM ${rel}`)
    out.push({ drop, exists: true, rows: Number(r.rows[0]!.n), nonNull: Number(r.rows[0]!.nn) })
  }
  return out
}
