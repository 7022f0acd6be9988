// `migrate` / `migrate:run`: Prisma's `migrate deploy`, done with pg.
// Differences from Prisma's engine, on purpose: each migration runs in its own
// transaction (a failing one leaves the database exactly as before it), and its
// row is inserted inside that transaction, so a killed process leaves no trace
// and the migration is simply pending. A failure is still recorded the way
// Prisma records it (a row without finished_at, with logs), written AFTER the
// rollback, so `prisma migrate status` reports it failed and further deploys
// stop until it is resolved, exactly as with Prisma.
import { readFileSync } from 'node:fs'
import { connect, grantHint, type Connection } from './connection.ts'
import { MigrateError } from './errors.ts'
import { checksumOf, type LocalMigration } from './files.ts'
import { ensureHistoryTable, logsWithOutcome, readHistory, recordFailed, recordFinished, recordLogs, recordStarted } from './history.ts'
import type { TimeoutOptions } from './guard.ts'
import { underMigrationLock } from './lock.ts'
import type { Logger } from './logger.ts'
import { displayPath, type CommonOptions } from './options.ts'
import { appliedText, prepareScript, ScriptFailed, ScriptRunner, scriptError, type PreparedScript, type ScriptFailure, type ScriptOutcome } from './runner.ts'
import { computeStatus, failedResidue, type HistoryStatus } from './state.ts'

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
        residueText(f),
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

/** What the failed migration left, and so whether resolving it as rolled back is enough. */
function residueText(e: HistoryStatus['entries'][number]): string {
  const r = failedResidue(e)
  if (r.kind === 'nothing') return 'It ran in a transaction that was rolled back: it changed nothing, so marking it rolled back is safe.'
  if (r.kind === 'statements') return `It runs outside a transaction: statements 1 to ${r.applied} of ${r.total} were applied and stay. Running it again (after the fix) starts from the top, so its statements must be safe to repeat (IF NOT EXISTS).`
  return 'It runs outside a transaction and its run did not record how far it got: some of its statements may stay applied. Check the database before running it again.'
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
    return { m, script: prepareScript(displayPath(m.sqlPath), bytes.toString('utf8')), checksum: checksumOf(bytes) }
  })
  const runner = new ScriptRunner(client, { ...opts, logger, openWatcher: () => connect(opts.url, { applicationName: 'wateen-migrate-watch' }) })
  const applied: AppliedMigration[] = []
  for (const s of scripts) {
    logger.info(`Applying: ${s.m.name}`)
    const t0 = performance.now()
    if (s.script.mode === 'statements') await applyOutsideTransaction(conn, runner, s)
    else await runner.unit(`Migration \`${s.m.name}\``, () => applyOne(conn, runner, s))
    applied.push({ name: s.m.name, durationMs: Math.round(performance.now() - t0) })
    logger.info(`Applied: ${s.m.name} in ${applied.at(-1)!.durationMs}ms`)
  }
  return { applied, alreadyApplied: status.counts.applied }
}

type Pending = { m: LocalMigration; script: PreparedScript; checksum: string }

/** Its row, the script and the row marked finished, in one transaction (checksum and SQL from the same bytes). */
async function applyOne(conn: Connection, runner: ScriptRunner, s: Pending): Promise<void> {
  const { client, target } = conn
  const startedAt = new Date()
  await client.query('BEGIN')
  let outcome: ScriptOutcome
  try {
    const id = await recordStarted(client, target.schema, { name: s.m.name, checksum: s.checksum })
    outcome = await runner.run(s.script)
    if (!outcome.failure) {
      await recordFinished(client, target.schema, id)
      await client.query('COMMIT')
      return
    }
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw interrupted(s.m.name, err)
  }
  await client.query('ROLLBACK').catch(() => {})
  const failed = outcome as ScriptOutcome & { failure: ScriptFailure }
  // Time-outs: retried, then explained, by the unit; nothing is recorded for them.
  if (failed.failure.kind === 'lock-timeout' || failed.failure.kind === 'statement-timeout') throw new ScriptFailed(failed)
  if (failed.failure.kind === 'connection') throw interrupted(s.m.name, failed.failure.cause)
  const nothing = 'The transaction was rolled back: the database is as it was before this migration.'
  await recordFailed(client, target.schema, { name: s.m.name, checksum: s.checksum, logs: logsFor(s.m.name, failed, nothing), startedAt }).catch(() => {})
  throw scriptError('MIGRATION_FAILED', `Migration \`${s.m.name}\` failed and was rolled back (the database is as before it)`, failed, {
    after: [],
    hint: grantHint(failed.failure.cause, target) ?? `Fix ${s.script.file}, then \`npx prisma migrate resolve --rolled-back ${s.m.name}\` and \`npm run migrate\``,
  })
}

/** The connection broke: the server rolls the transaction back; nothing to record. */
function interrupted(name: string, err: unknown): unknown {
  if (err instanceof MigrateError || err instanceof ScriptFailed) return err
  return new MigrateError('MIGRATION_FAILED', `Migration \`${name}\` was interrupted: ${(err as Error).message}. It was not applied.`, { hint: 'Run `npm run migrate:status`, then `npm run migrate` again', cause: err })
}

/** The failed row's logs: for people, then the outcome as a value status reads back. */
function logsFor(name: string, o: ScriptOutcome & { failure: ScriptFailure }, after: string): string {
  const f = o.failure
  const at = o.mode === 'statements' && f.statement ? ` (outside a transaction) at statement ${f.statement.index} of ${o.total}` : ''
  const text = [`Migration \`${name}\`${at} failed: ${f.message}`, ...(f.statement ? [`Statement (line ${f.statement.line}):`, f.statement.text] : []), after].join('\n')
  return logsWithOutcome(text, { mode: o.mode, applied: o.mode === 'statements' ? o.applied : 0, total: o.total, failedAt: f.statement?.index, sqlstate: f.sqlstate })
}

/**
 * A migration declared `-- watify:no-transaction`: its row is written first
 * (so a failure or a kill part-way leaves it recorded as failed, the truth),
 * then the runner commits its statements one by one.
 */
async function applyOutsideTransaction(conn: Connection, runner: ScriptRunner, s: Pending): Promise<void> {
  const { client, target } = conn
  const id = await recordStarted(client, target.schema, { name: s.m.name, checksum: s.checksum })
  await runner.startWatch()
  const outcome = await runner.run(s.script).finally(() => runner.stopWatch())
  if (!outcome.failure) return recordFinished(client, target.schema, id)
  const failed = outcome as ScriptOutcome & { failure: ScriptFailure }
  const applied = appliedText(failed, '')
  await recordLogs(client, target.schema, id, logsFor(s.m.name, failed, applied)).catch(() => {})
  throw scriptError('MIGRATION_FAILED', `Migration \`${s.m.name}\` failed`, failed, {
    after: [applied, 'It is recorded as failed.'],
    hint: `Make ${s.script.file} safe to run again from the top (IF NOT EXISTS; an invalid index is rebuilt by the next run), then \`npx prisma migrate resolve --rolled-back ${s.m.name}\` and \`npm run migrate\``,
  })
}
