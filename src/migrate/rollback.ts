// `migrate:rollback`: undo applied migrations with their down.sql, newest
// first. The whole plan is worked out and validated under the migration lock
// before the first statement; then the WHOLE plan (every down.sql, each
// history row marked rolled back) runs in ONE transaction: all or nothing.
// What it destroys is measured inside that transaction (loss.ts) before it
// commits, and a plan that loses data commits only when the caller accepted
// that loss.
import { connect, grantHint, type Connection, type Target } from './connection.ts'
import { MigrateError } from './errors.ts'
import { INCOMPLETE_DOWN_MARKER, resolveMigrationName, type LocalMigration } from './files.ts'
import type { TimeoutOptions } from './guard.ts'
import { downForRollback } from './down.ts'
import { markRolledBack, readHistory, type HistoryRow } from './history.ts'
import { underMigrationLock } from './lock.ts'
import type { Logger } from './logger.ts'
import { displayPath, type CommonOptions } from './options.ts'
import { holdsData, refusal, runMeasured, type LossConsent, type LossItem, type LossReport } from './loss.ts'
import { prepareScript, ScriptFailed, ScriptRunner, scriptError, type PreparedScript } from './runner.ts'
import { computeStatus, failedResidue, type HistoryStatus, type StatusEntry } from './state.ts'

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
  script: PreparedScript
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

/** A failed migration that left statements applied blocks any plan: undoing what is before it would orphan them. */
function refuseOverFailed(status: HistoryStatus, logger: Logger): void {
  const failed = status.entries.filter((e) => e.state === 'failed')
  for (const f of failed) {
    const residue = failedResidue(f)
    if (residue.kind === 'nothing') {
      logger.warn(`\`${f.name}\` is recorded as failed; it is not rolled back (it ran in a transaction that was rolled back: it changed nothing). Resolve it with \`npx prisma migrate resolve --rolled-back ${f.name}\``)
      continue
    }
    // Undoing what is before it would leave what it did apply orphaned (or fail on it).
    const what = residue.kind === 'statements' ? `statements 1 to ${residue.applied} of ${residue.total} of it stay applied` : 'some of its statements may stay applied'
    throw new MigrateError('HISTORY_CONFLICT', `Cannot roll back: \`${f.name}\` failed part-way outside a transaction (${what}); nothing was rolled back.`, {
      hint: `Finish it first: fix its cause and run \`npm run migrate\` (it runs again from the top), or undo its applied statements by hand and \`npx prisma migrate resolve --rolled-back ${f.name}\`; then roll back`,
    })
  }
}

/** Which applied migrations, newest first. */
function whichToUndo(status: HistoryStatus, opts: RollbackOptions): StatusEntry[] {
  const applied = status.entries.filter((e) => e.state === 'applied')
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
    return applied.filter((e) => e.name > found.name).reverse()
  } else {
    const steps = opts.steps ?? 1
    if (applied.length === 0) return []
    if (steps > applied.length) {
      throw badArgument(`Cannot roll back ${steps} migrations: only ${applied.length} ${applied.length === 1 ? 'is' : 'are'} applied.`, `Use \`--steps=${applied.length}\` or fewer (or \`npm run migrate:reset\` to start over)`)
    }
    return applied.slice(applied.length - steps).reverse()
  }
}

/** Every step checked before anything is touched: its folder, a usable down.sql, an unedited migration.sql. */
async function validatedPlan(toUndo: StatusEntry[], opts: RollbackOptions, logger: Logger): Promise<RollbackStep[]> {
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
    plan.push({ name: e.name, downPath: m.downPath, downSql: m.down, rowId: (e.row as HistoryRow).id, script: prepareScript(downFile, m.down, 'down') })
  }
  return plan
}

async function rollbackLocked(conn: Connection, local: LocalMigration[], opts: RollbackOptions, logger: Logger): Promise<RollbackResult> {
  const { client, target } = conn
  const status = computeStatus(local, await readHistory(client, target.schema))
  refuseOverFailed(status, logger)
  const applied = status.entries.filter((e) => e.state === 'applied')
  const toUndo = whichToUndo(status, opts)
  const plan = await validatedPlan(toUndo, opts, logger)
  const remainingLatest = applied.filter((e) => !toUndo.includes(e)).at(-1)?.name
  if (plan.length === 0) return { dryRun: Boolean(opts.dryRun), plan, rolledBack: [], remainingLatest, loss: NO_LOSS }
  const runner = new ScriptRunner(client, { ...opts, logger, openWatcher: () => connect(opts.url, { applicationName: 'wateen-migrate-watch' }) })
  const outside = plan.find((p) => p.script.mode === 'statements')
  if (outside) {
    if (plan.length > 1) {
      const i = plan.indexOf(outside)
      throw badArgument(
        `\`${outside.name}\`'s down.sql runs outside a transaction, so it cannot be part of a plan that is all or nothing.`,
        i === 0 ? `Roll it back alone first: \`npm run migrate:rollback\`` : `Roll back to just after it first: \`npm run migrate:rollback -- --to=${outside.name}\`, then it alone: \`npm run migrate:rollback\``,
      )
    }
    return rollbackOutsideTransaction(conn, runner, outside, remainingLatest, opts, logger)
  }

  logger.info(`Plan: ${plan.length === 1 ? 'undo' : `undo ${plan.length} migrations in one transaction, newest first:`} ${plan.map((p) => p.name).join(', ')}`)
  return runner.unit('The rollback', async () => {
    const durations = new Map<string, number>()
    const runPlan = async (): Promise<void> => {
      for (const step of plan) {
        const o = await runner.run(step.script)
        if (o.failure) throw new StepFailed(step, new ScriptFailed({ ...o, failure: o.failure }))
        if ((await markRolledBack(client, target.schema, step.rowId)) !== 1) throw new Error(`the \`_prisma_migrations\` row of \`${step.name}\` changed during the rollback`)
        durations.set(step.name, o.durationMs)
      }
    }
    await client.query('BEGIN')
    try {
      const { report } = await runMeasured(client, target.schema, runPlan)
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
      throw stepError(err, target)
    }
  })
}

/** A step of the plan failed: which one, and how. */
class StepFailed extends Error {
  constructor(
    readonly step: RollbackStep,
    readonly failed: ScriptFailed,
  ) {
    super(failed.message)
  }
}

/** Says which step failed, and that the whole plan was undone with it; time-outs go back to the unit as they are. */
function stepError(err: unknown, target: Target): unknown {
  if (!(err instanceof StepFailed)) return err
  const o = err.failed.outcome
  if (o.failure.kind === 'lock-timeout' || o.failure.kind === 'statement-timeout') return err.failed
  const nothing = 'Nothing was rolled back: the whole plan runs in one transaction, and it was rolled back.'
  if (o.failure.kind === 'connection') {
    return new MigrateError('ROLLBACK_FAILED', `Rolling back \`${err.step.name}\` was interrupted: ${o.failure.message}.`, { hint: 'Run `npm run migrate:status`', cause: o.failure.cause, details: [nothing] })
  }
  const file = displayPath(err.step.downPath)
  return scriptError('ROLLBACK_FAILED', `Rolling back \`${err.step.name}\` failed`, o, {
    after: [nothing],
    hint: grantHint(o.failure.cause, target) ?? `Fix ${file}, then check the plan with \`npm run migrate:rollback -- --dry-run\``,
  })
}

const NO_LOSS: LossReport = { items: [], losesData: false, countMs: 0 }

/** Statements that cannot run inside a transaction block; none of them destroys rows. */
const OUTSIDE_ONLY = /^(CREATE\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY|DROP\s+INDEX\s+CONCURRENTLY|REINDEX\b[\s\S]*\bCONCURRENTLY\b|VACUUM\b|ANALYZE\b)/i

/**
 * One step whose down.sql declares `-- watify:no-transaction` (e.g. DROP
 * INDEX CONCURRENTLY). The statements that can run in a transaction are
 * measured as any plan is: first all together (rolled back) for the dry run
 * and the consent, then each in its own measured transaction when it runs
 * for real, so what is reported is what was destroyed.
 */
async function rollbackOutsideTransaction(conn: Connection, runner: ScriptRunner, step: RollbackStep, remainingLatest: string | undefined, opts: RollbackOptions, logger: Logger): Promise<RollbackResult> {
  const { client, target } = conn
  const single = (statements: PreparedScript['statements']): PreparedScript => ({ ...step.script, mode: 'transaction', statements })
  const measurable = step.script.statements.filter((s) => !OUTSIDE_ONLY.test(s.text))
  const measureAll = async (): Promise<LossReport> =>
    runner.unit('The rollback', async () => {
      await client.query('BEGIN')
      try {
        const { report } = await runMeasured(client, target.schema, async () => {
          const o = await runner.run(single(measurable))
          if (o.failure) throw new StepFailed(step, new ScriptFailed({ ...o, failure: o.failure }))
        })
        return report
      } catch (err) {
        throw stepError(err, target)
      } finally {
        await client.query('ROLLBACK').catch(() => {})
      }
    })
  const planned = measurable.length ? await measureAll() : NO_LOSS
  if (opts.dryRun) return { dryRun: true, plan: [step], rolledBack: [], remainingLatest, loss: planned }
  const refused = refusal(planned, opts, 'roll back')
  if (refused) throw refused

  // For real: each statement committed on its own; the measured ones within what was consented to.
  const t0 = performance.now()
  const lost: LossItem[] = []
  await runner.startWatch()
  try {
    for (const [i, st] of step.script.statements.entries()) {
      const fail = (message: string, cause?: unknown, extra: string[] = []): MigrateError =>
        new MigrateError('ROLLBACK_FAILED', `Rolling back \`${step.name}\` failed at statement ${i + 1} of ${step.script.statements.length}: ${message}`, {
          cause,
          details: [...extra, i === 0 ? 'Nothing was changed.' : `Statements 1 to ${i} ran and stay (outside a transaction); \`${step.name}\` is still recorded as applied.`],
          hint: `Fix ${displayPath(step.downPath)} (IF EXISTS makes it safe to run again), then run the rollback again`,
        })
      if (OUTSIDE_ONLY.test(st.text)) {
        const o = await runner.run({ ...step.script, statements: [st] })
        if (o.failure) throw fail(o.failure.message, o.failure.cause)
        continue
      }
      await client.query('BEGIN')
      try {
        const { report } = await runMeasured(client, target.schema, async () => {
          const o = await runner.run(single([st]))
          if (o.failure) throw new ScriptFailed({ ...o, failure: o.failure })
        })
        const over = opts.acceptDataLoss ? undefined : refusal({ ...report, items: [...lost, ...report.items] }, { confirmedLoss: opts.confirmedLoss ?? planned.items }, 'go on')
        if (over) throw fail(over.message, undefined, over.details)
        await client.query('COMMIT')
        lost.push(...report.items)
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {})
        if (err instanceof MigrateError) throw err
        throw fail(err instanceof ScriptFailed ? err.outcome.failure.message : (err as Error).message, err)
      }
    }
  } finally {
    await runner.stopWatch()
  }
  await markRolledBack(client, target.schema, step.rowId)
  logger.info(`Rolled back outside a transaction: ${step.name}`)
  const loss: LossReport = { items: lost, losesData: lost.some(holdsData), countMs: planned.countMs }
  return { dryRun: false, plan: [step], rolledBack: [{ name: step.name, durationMs: Math.round(performance.now() - t0) }], remainingLatest, loss }
}
