// `migrate:rollback`: undo applied migrations with their down.sql, newest
// first. The whole plan is worked out and validated under the migration lock
// before the first statement; then the WHOLE plan (every down.sql, each
// history row marked rolled back) runs in ONE transaction: all or nothing.
// What it destroys is measured inside that transaction (loss.ts) before it
// commits, and a plan that loses data commits only when the caller accepted
// that loss.
import { connect, grantHint, type Connection, type Target } from './connection.ts'
import { MigrateError } from './errors.ts'
import { INCOMPLETE_DOWN_MARKER, resolveMigrationName, runsOutsideTransaction, type LocalMigration } from './files.ts'
import { applyTimeouts, withLockRetries, type TimeoutOptions } from './guard.ts'
import { downForRollback } from './down.ts'
import { markRolledBack, readHistory, type HistoryRow } from './history.ts'
import { underMigrationLock } from './lock.ts'
import type { Logger } from './logger.ts'
import { displayPath, type CommonOptions } from './options.ts'
import { refusal, runMeasured, type LossConsent, type LossReport } from './loss.ts'
import { isCatalogOnly, splitStatements } from './sql.ts'
import { assertNoTransactionControl, describeSqlError, isServerError, runScript, sqlFailureError } from './run-sql.ts'
import { computeStatus } from './state.ts'

export interface RollbackOptions extends CommonOptions, TimeoutOptions, LossConsent {
  /** How many applied migrations to undo (default 1). */
  steps?: number
  /** Undo every applied migration after this one and keep it (full folder name, or name without its number when unambiguous). */
  to?: string
  /** Work out the plan and measure what it would destroy; change nothing. */
  dryRun?: boolean
}

export interface RollbackStep {
  name: string
  downPath: string
  downSql: string
  rowId: string
}

export interface RollbackResult {
  dryRun: boolean
  /** Newest first, the order they are (or would be) undone in. */
  plan: RollbackStep[]
  rolledBack: Array<{ name: string; durationMs: number }>
  /** The migration that is the latest applied one afterwards (undefined when none). */
  remainingLatest: string | undefined
  /** What the plan destroys (measured by running it); empty when nothing was planned. */
  loss: LossReport
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
  return underMigrationLock(opts, (conn, local, logger) => rollbackLocked(conn, local, opts, logger))
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
    if (applied.length === 0) return { dryRun: Boolean(opts.dryRun), plan: [], rolledBack: [], remainingLatest: undefined, loss: NO_LOSS }
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
    // No down.sql (e.g. `npx prisma migrate dev`): generate, check, save and show it; throws when incomplete.
    if (m.down === undefined) m.down = await downForRollback({ url: opts.url, migration: m, logger })
    if (m.down.includes(INCOMPLETE_DOWN_MARKER)) {
      throw new MigrateError('NO_DOWN', `Cannot roll back \`${e.name}\`: \`${downFile}\` is a stub that was never completed.`, { hint: `Complete ${downFile} and remove its \`${INCOMPLETE_DOWN_MARKER}\` line, then run \`npm run migrate:verify\`` })
    }
    if (e.checksumMatches === false) {
      throw new MigrateError('HISTORY_CONFLICT', `Cannot roll back \`${e.name}\`: its migration.sql changed after it was applied, so down.sql may not undo what actually ran.`, {
        hint: `Restore the applied version of ${displayPath(m.sqlPath)} (e.g. \`git log -p -- ${displayPath(m.sqlPath)}\`), then run the rollback again`,
      })
    }
    assertNoTransactionControl(downFile, m.down)
    plan.push({ name: e.name, downPath: m.downPath, downSql: m.down, rowId: (e.row as HistoryRow).id })
  }
  const remainingLatest = applied.filter((e) => !toUndo.includes(e)).at(-1)?.name
  if (plan.length === 0) return { dryRun: Boolean(opts.dryRun), plan, rolledBack: [], remainingLatest, loss: NO_LOSS }
  const outside = plan.find((p) => runsOutsideTransaction(p.downSql))
  if (outside) {
    if (plan.length > 1) {
      const i = plan.indexOf(outside)
      throw badArgument(
        `\`${outside.name}\`'s down.sql runs outside a transaction, so it cannot be part of a plan that is all or nothing.`,
        i === 0 ? `Roll it back alone first: \`npm run migrate:rollback\`` : `Roll back to just after it first: \`npm run migrate:rollback -- --to=${outside.name}\`, then it alone: \`npm run migrate:rollback\``,
      )
    }
    return rollbackOutsideTransaction(conn, outside, remainingLatest, opts, logger)
  }

  logger.info(`Plan: ${plan.length === 1 ? 'undo' : `undo ${plan.length} migrations in one transaction, newest first:`} ${plan.map((p) => p.name).join(', ')}`)
  const connOpts = { applicationName: 'wateen-migrate-watch' }
  return withLockRetries(client, 'The rollback', { ...opts, logger, openWatcher: () => connect(opts.url, connOpts) }, async () => {
    const durations = new Map<string, number>()
    let current: RollbackStep | undefined
    const runPlan = async (): Promise<void> => {
      for (const step of plan) {
        current = step
        const t0 = performance.now()
        await runScript(client, step.downSql, displayPath(step.downPath))
        if ((await markRolledBack(client, target.schema, step.rowId)) !== 1) throw new Error(`the \`_prisma_migrations\` row of \`${step.name}\` changed during the rollback`)
        durations.set(step.name, Math.round(performance.now() - t0))
      }
      current = undefined
    }
    await client.query('BEGIN')
    try {
      const { report } = await runMeasured(client, target.schema, runPlan, { catalogOnly: plan.every((p) => isCatalogOnly(p.downSql)) })
      if (opts.dryRun) {
        await client.query('ROLLBACK')
        return { dryRun: true, plan, rolledBack: [], remainingLatest, loss: report }
      }
      const refused = refusal(report, opts, 'roll back')
      if (refused) {
        await client.query('ROLLBACK')
        throw refused
      }
      await client.query('COMMIT')
      return { dryRun: false, plan, rolledBack: plan.map((p) => ({ name: p.name, durationMs: durations.get(p.name) ?? 0 })), remainingLatest, loss: report }
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      throw stepError(err, current, target)
    }
  })
}

/** Says which step failed, and that the whole plan was undone with it. */
function stepError(err: unknown, step: RollbackStep | undefined, target: Target): unknown {
  if (err instanceof MigrateError || !step) return err
  // Lock and statement time-outs are retried or explained by the guard.
  const code = (err as { code?: string }).code
  if (code === '55P03' || code === '57014') return err
  const file = displayPath(step.downPath)
  const nothing = 'Nothing was rolled back: the whole plan runs in one transaction, and it was rolled back.'
  if (!isServerError(err)) {
    return new MigrateError('ROLLBACK_FAILED', `Rolling back \`${step.name}\` was interrupted: ${(err as Error).message}.`, { hint: 'Run `npm run migrate:status`', cause: err, details: [nothing] })
  }
  return sqlFailureError('ROLLBACK_FAILED', `Rolling back \`${step.name}\` failed`, file, describeSqlError(err, step.downSql), {
    cause: err,
    hint: grantHint(err, target) ?? `Fix ${file}, then check the plan with \`npm run migrate:rollback -- --dry-run\``,
    extra: [nothing],
  })
}

const NO_LOSS: LossReport = { items: [], losesData: false, countMs: 0 }

/**
 * One step whose down.sql declares `-- watify:no-transaction` (e.g. DROP
 * INDEX CONCURRENTLY): its statements run one by one, so what they destroy
 * cannot be measured and undone. Dropping indexes loses no data; anything
 * else needs `--accept-data-loss`.
 */
async function rollbackOutsideTransaction(conn: Connection, step: RollbackStep, remainingLatest: string | undefined, opts: RollbackOptions, logger: Logger): Promise<RollbackResult> {
  const { client, target } = conn
  const statements = splitStatements(step.downSql)
  const onlyIndexes = statements.every((s) => /^DROP\s+INDEX\b/i.test(s.text))
  if (opts.dryRun) return { dryRun: true, plan: [step], rolledBack: [], remainingLatest, loss: NO_LOSS }
  if (!onlyIndexes && !opts.acceptDataLoss) {
    throw new MigrateError('DATA_LOSS_REFUSED', `Refusing to roll back \`${step.name}\`: its down.sql runs outside a transaction, so what it destroys cannot be measured first. Nothing was changed.`, {
      details: ['Statements that may destroy data:', ...statements.filter((s) => !/^DROP\s+INDEX\b/i.test(s.text)).map((s) => `    ${s.text.split('\n')[0]}`)],
    })
  }
  await applyTimeouts(client, opts)
  const t0 = performance.now()
  for (const [i, st] of statements.entries()) {
    try {
      await client.query(st.text)
    } catch (err) {
      throw new MigrateError('ROLLBACK_FAILED', `Rolling back \`${step.name}\` failed at statement ${i + 1} of ${statements.length}: ${(err as Error).message}`, {
        cause: err,
        details: [i === 0 ? 'Nothing was changed.' : `Statements 1 to ${i} ran and stay (outside a transaction); \`${step.name}\` is still recorded as applied.`],
        hint: `Fix ${displayPath(step.downPath)} (IF EXISTS makes it safe to run again), then run the rollback again`,
      })
    }
  }
  await markRolledBack(client, target.schema, step.rowId)
  const durationMs = Math.round(performance.now() - t0)
  logger.info(`Rolled back outside a transaction: ${step.name}`)
  return { dryRun: false, plan: [step], rolledBack: [{ name: step.name, durationMs }], remainingLatest, loss: NO_LOSS }
}
