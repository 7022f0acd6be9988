// `migrate` / `migrate:run`: Prisma's `migrate deploy`, done with pg.
// Differences from Prisma's engine, on purpose: each migration runs in its own
// transaction (a failing one leaves the database exactly as before it), and its
// row is inserted inside that transaction, so a killed process leaves no trace
// and the migration is simply pending. A failure is still recorded the way
// Prisma records it (a row without finished_at, with logs), written AFTER the
// rollback, so `prisma migrate status` reports it failed and further deploys
// stop until it is resolved, exactly as with Prisma.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { connect, grantHint, type Connection } from './connection.ts'
import { MigrateError } from './errors.ts'
import { checksumOf, readMigrations, type LocalMigration } from './files.ts'
import { ensureHistoryTable, readHistory, recordFailed, recordFinished, recordStarted } from './history.ts'
import { withLockRetries, type TimeoutOptions } from './guard.ts'
import { withMigrationLock } from './lock.ts'
import type { Logger } from './logger.ts'
import { displayPath, resolved, type CommonOptions } from './options.ts'
import { assertNoTransactionControl, describeSqlError, isServerError, runInTransaction, sqlFailureError } from './run-sql.ts'
import { computeStatus, type HistoryStatus } from './state.ts'

export interface AppliedMigration {
  name: string
  durationMs: number
}

export interface DeployResult {
  applied: AppliedMigration[]
  /** Migrations that were already applied before this run. */
  alreadyApplied: number
}

export type DeployOptions = CommonOptions & TimeoutOptions

/** Applies every pending migration, in order, each in its own transaction, under the migration lock. */
export async function deploy(opts: DeployOptions): Promise<DeployResult> {
  const { migrationsDir, logger } = resolved(opts)
  const local = readMigrations(migrationsDir)
  const conn = await connect(opts.url)
  try {
    return await withMigrationLock(conn.client, () => deployLocked(conn, local, opts, logger), {
      logger,
      ...(opts.migrationLockWaitMs !== undefined ? { timeoutMs: opts.migrationLockWaitMs } : {}),
    })
  } finally {
    await conn.close()
  }
}

/** Problems that stop a deploy before it touches anything (the same that make `migrate:status` exit 3). */
export function checkBeforeDeploy(status: HistoryStatus): void {
  const failed = status.entries.filter((e) => e.state === 'failed')
  if (failed.length > 0) {
    const f = failed[0]!
    const fixed = f.checksumMatches === false ? ' Its migration.sql was changed since (fixed?).' : ''
    throw new MigrateError('FAILED_MIGRATION_RECORDED', `Migration \`${f.name}\` failed earlier and is recorded as failed; no new migrations are applied until it is resolved (Prisma P3009).${fixed}`, {
      hint: `${fixed ? 'Mark it rolled back' : 'Fix its migration.sql, mark it rolled back'} with \`npx prisma migrate resolve --rolled-back ${f.name}\`, then run \`npm run migrate\``,
      details: [
        ...(f.row?.logs ? ['Recorded error:', ...f.row.logs.split('\n').map((l) => `    ${l}`)] : []),
        'Our migrations run in a transaction: a failed one changed nothing, so marking it rolled back is safe.',
      ],
    })
  }
  const edited = status.entries.filter((e) => e.state === 'applied' && e.checksumMatches === false)
  if (edited.length > 0) {
    const file = displayPath(edited[0]!.local!.sqlPath)
    throw new MigrateError('HISTORY_CONFLICT', `Applied migration \`${edited[0]!.name}\` was edited after it was applied (its migration.sql no longer matches the recorded checksum); nothing was applied.`, {
      hint: `Restore the applied version (\`git log -p -- ${file}\`) and put the change in a new migration (\`npm run migrate:create -- --name <name>\`)`,
      details: edited.map((e) => `    edited: ${e.name}`),
    })
  }
  const missing = status.entries.filter((e) => e.state === 'applied' && e.missingLocally)
  if (missing.length > 0) {
    throw new MigrateError('HISTORY_CONFLICT', `Applied migration \`${missing[0]!.name}\` is not in the migrations folder; nothing was applied.`, {
      hint: 'Restore its folder (another branch? `git status`), then run `npm run migrate`',
      details: missing.map((e) => `    applied, missing locally: ${e.name}`),
    })
  }
  const early = status.entries.filter((e) => e.outOfOrder && e.local)
  if (early.length > 0) {
    const lastApplied = status.entries.filter((e) => e.state === 'applied').at(-1)!.name
    throw new MigrateError('HISTORY_CONFLICT', `Pending migration \`${early[0]!.name}\` sorts before the applied migration \`${lastApplied}\`.`, {
      hint: `Rename its folder so it sorts after \`${lastApplied}\` (next number), then run \`npm run migrate\``,
      details: early.map((e) => `    pending, out of order: ${e.name}`),
    })
  }
}

/** The deploy itself; the caller holds the migration lock on `conn`. */
export async function deployLocked(conn: Connection, local: LocalMigration[], opts: TimeoutOptions & { url: string }, logger: Logger): Promise<DeployResult> {
  const { client, target } = conn
  await ensureHistoryTable(client, target.schema).catch((err: unknown) => {
    const hint = grantHint(err, target)
    throw hint ? new MigrateError('PERMISSION', `Cannot create the migration history table: ${(err as Error).message}.`, { hint, cause: err }) : err
  })
  const status = computeStatus(local, await readHistory(client, target.schema))
  checkBeforeDeploy(status)
  const pending = status.entries.filter((e) => (e.state === 'pending' || e.state === 'rolled_back') && e.local).map((e) => e.local!)
  // Validation before execution: every pending file, before the first statement.
  const scripts = pending.map((m) => {
    const bytes = readFileSync(m.sqlPath)
    const sql = bytes.toString('utf8')
    assertNoTransactionControl(displayPath(m.sqlPath), sql)
    return { m, sql, checksum: checksumOf(bytes) }
  })
  const applied: AppliedMigration[] = []
  for (const s of scripts) {
    logger.info(`Applying: ${s.m.name}`)
    applied.push(await withLockRetries(client, `Migration \`${s.m.name}\``, { ...opts, logger, openWatcher: () => connect(opts.url, { applicationName: 'wateen-migrate-watch' }) }, () => applyOne(conn, s)))
    logger.info(`Applied: ${s.m.name} in ${applied.at(-1)!.durationMs}ms`)
  }
  return { applied, alreadyApplied: status.counts.applied }
}

async function applyOne(conn: Connection, s: { m: LocalMigration; sql: string; checksum: string }): Promise<AppliedMigration> {
  const { client, target } = conn
  // Checksum and SQL from the same bytes: what is recorded is what ran.
  const { m, sql, checksum } = s
  const startedAt = new Date()
  const t0 = performance.now()
  try {
    let id = ''
    await runInTransaction(client, sql, displayPath(m.sqlPath), {
      before: async () => void (id = await recordStarted(client, target.schema, { name: m.name, checksum })),
      after: () => recordFinished(client, target.schema, id),
    })
  } catch (err) {
    const file = displayPath(path.join(m.dir, 'migration.sql'))
    if (err instanceof MigrateError) throw err
    // Time-outs: retried, then explained, by the guard; nothing is recorded for them.
    const code = (err as { code?: string }).code
    if (code === '55P03' || code === '57014') throw err
    if (!isServerError(err)) {
      // The connection broke: the server rolls the transaction back; nothing to record.
      throw new MigrateError('MIGRATION_FAILED', `Migration \`${m.name}\` was interrupted: ${(err as Error).message}. It was not applied.`, {
        hint: 'Run `npm run migrate:status`, then `npm run migrate` again',
        cause: err,
      })
    }
    const failure = describeSqlError(err, sql)
    const logs = [`Migration \`${m.name}\` failed: ${failure.message}`, ...(failure.statement ? [`Statement (line ${failure.line}):`, failure.statement] : []), 'The transaction was rolled back: the database is as it was before this migration.'].join('\n')
    await recordFailed(client, target.schema, { name: m.name, checksum, logs, startedAt }).catch(() => {})
    throw sqlFailureError('MIGRATION_FAILED', `Migration \`${m.name}\` failed and was rolled back (the database is as before it)`, file, failure, {
      cause: err,
      hint: grantHint(err, target) ?? `Fix ${file}, then \`npx prisma migrate resolve --rolled-back ${m.name}\` and \`npm run migrate\``,
    })
  }
  return { name: m.name, durationMs: Math.round(performance.now() - t0) }
}
