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
import { checksumOf, runsOutsideTransaction, type LocalMigration } from './files.ts'
import { ensureHistoryTable, readHistory, recordFailed, recordFinished, recordLogs, recordStarted } from './history.ts'
import { applyTimeouts, withLockRetries, type TimeoutOptions } from './guard.ts'
import { underMigrationLock } from './lock.ts'
import type { Logger } from './logger.ts'
import { displayPath, type CommonOptions } from './options.ts'
import { assertNoTransactionControl, describeSqlError, excerpt, isServerError, runInTransaction, sqlFailureError } from './run-sql.ts'
import { quoteIdent, splitStatements } from './sql.ts'
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
  return underMigrationLock(opts, (conn, local, logger) => deployLocked(conn, local, opts, logger))
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
    const guard = { ...opts, logger, openWatcher: () => connect(opts.url, { applicationName: 'wateen-migrate-watch' }) }
    applied.push(runsOutsideTransaction(s.sql) ? await applyOutsideTransaction(conn, s, guard) : await withLockRetries(client, `Migration \`${s.m.name}\``, guard, () => applyOne(conn, s)))
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

const CONCURRENT_INDEX = /^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?("(?:[^"]|"")+"|[A-Za-z_][\w$]*)/i

/**
 * A migration declared `-- watify:no-transaction`: its row is written first
 * (so a failure or a kill part-way leaves it recorded as failed, the truth),
 * then each statement runs on its own, committed, with the same lock and
 * statement time-outs; a lock time-out is retried for that statement. An
 * INVALID index left by an earlier failed `CREATE INDEX CONCURRENTLY` of the
 * same name is dropped before the build is tried again.
 */
async function applyOutsideTransaction(
  conn: Connection,
  s: { m: LocalMigration; sql: string; checksum: string },
  guard: TimeoutOptions & { logger: Logger },
): Promise<AppliedMigration> {
  const { client, target } = conn
  const { m, sql, checksum } = s
  const file = displayPath(m.sqlPath)
  const statements = splitStatements(sql)
  const t0 = performance.now()
  await applyTimeouts(client, guard)
  const id = await recordStarted(client, target.schema, { name: m.name, checksum })
  for (const [i, st] of statements.entries()) {
    const index = CONCURRENT_INDEX.exec(st.text)?.[1]
    const attempts = guard.lockAttempts ?? 3
    for (let n = 1; ; n++) {
      try {
        if (index) await dropInvalidIndex(client, target.schema, index, guard.logger)
        await client.query(st.text)
        break
      } catch (err) {
        if ((err as { code?: string }).code === '55P03' && n < attempts) {
          guard.logger.info(`Waiting: statement ${i + 1} of \`${m.name}\` did not get its lock in time (attempt ${n} of ${attempts}); retrying`)
          await new Promise((r) => setTimeout(r, 500 * n))
          continue
        }
        const line = sql.slice(0, st.start).split('\n').length
        const applied = i === 0 ? 'None of its statements was applied.' : `Statements 1 to ${i} of ${statements.length} were applied and stay: it runs outside a transaction.`
        const message = `${(err as Error).message}${(err as { detail?: string }).detail ? ` (${(err as { detail?: string }).detail})` : ''}`
        await recordLogs(client, target.schema, id, [`Migration \`${m.name}\` (outside a transaction) failed at statement ${i + 1} of ${statements.length}: ${message}`, `Statement (line ${line}):`, st.text, applied].join('\n')).catch(() => {})
        throw new MigrateError('MIGRATION_FAILED', `Migration \`${m.name}\` failed at statement ${i + 1} of ${statements.length}: ${message}`, {
          cause: err,
          details: [`Failing statement (${file}, line ${line}):`, ...excerpt(st.text), applied, 'It is recorded as failed.'],
          hint: `Make ${file} safe to run again from the top (IF NOT EXISTS; an invalid index is rebuilt by the next run), then \`npx prisma migrate resolve --rolled-back ${m.name}\` and \`npm run migrate\``,
        })
      }
    }
  }
  await recordFinished(client, target.schema, id)
  return { name: m.name, durationMs: Math.round(performance.now() - t0) }
}

/** Drops `name` when it is an INVALID index (what a failed or cancelled concurrent build leaves). */
async function dropInvalidIndex(client: Connection['client'], schema: string, name: string, logger: Logger): Promise<void> {
  const bare = name.startsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name.toLowerCase()
  const r = await client.query(
    `SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND NOT i.indisvalid`,
    [schema, bare],
  )
  if (!r.rowCount) return
  await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${quoteIdent(schema)}.${quoteIdent(bare)}`)
  logger.info(`Dropped: invalid index ${bare}, left by a concurrent build that failed; building it again`)
}
