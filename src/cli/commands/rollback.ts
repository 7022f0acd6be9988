import { rollback, validateRollbackArgs, MigrateError, type RollbackOptions } from '../../migrate/index.ts'
import { displayPath } from '../../migrate/options.ts'
import { formatValue } from '../args.ts'
import { MIGRATIONS_DIR_OPTION, libOptions, type Command } from '../command.ts'
import { databaseLine } from '../render.ts'
import { TIMEOUT_OPTIONS, canAsk, printLoss, runConfirmed, timeoutOptions, withRefusalHint } from '../safety.ts'

export const rollbackCommand: Command = {
  name: 'migrate:rollback',
  scriptNames: ['migrate:rollback'],
  guardsNpm: true,
  summary: 'Undo applied migrations with their down.sql, newest first (default: the last one), all in one transaction.',
  options: [
    { name: 'steps', type: 'string', valueName: '<n>', description: 'Roll back the last n applied migrations (default 1)', fromNpm: true },
    { name: 'to', type: 'string', valueName: '<migration>', description: 'Roll back everything after <migration> and keep it (folder name, or name without its number)', npmAliases: ['token-description'], fromNpm: true },
    { name: 'dry-run', type: 'boolean', description: 'Print the plan, its SQL and exactly what data it would destroy; change nothing', fromNpm: true },
    { name: 'accept-data-loss', type: 'boolean', description: 'Go ahead although data would be lost (needed without a terminal when it would)', typedOnly: true },
    ...TIMEOUT_OPTIONS,
    MIGRATIONS_DIR_OPTION,
  ],
  examples: [
    'npm run migrate:rollback',
    'npm run migrate:rollback --steps=2            (same as: npm run migrate:rollback -- --steps=2)',
    'npm run migrate:rollback --to=001_create_users_table',
    'npm run migrate:rollback -- --to=create_users_table --dry-run',
    'npm run migrate:rollback -- --steps=3 --accept-data-loss',
  ],
  exitCodes: [
    ['OK', 'rolled back (or nothing to do)'],
    ['FAILED', 'a down.sql failed or is missing; nothing was rolled back'],
    ['BAD_INPUT', 'bad arguments, or a URL schema changes cannot use; nothing was touched'],
    ['HISTORY', 'migration.sql edited since applied, a folder without migration.sql, or a down.sql with its own COMMIT/ROLLBACK'],
    ['DATA_LOSS_REFUSED', 'refused: it would destroy data, and no terminal / no --accept-data-loss typed after `--`; nothing changed'],
    ['TIMEOUT', 'a table lock was not granted in time, or a statement ran too long; nothing changed'],
  ],
  async run(ctx) {
    const rawSteps = ctx.values.steps as string | undefined
    let steps: number | undefined
    if (rawSteps !== undefined) {
      if (!/^\d+$/.test(rawSteps.trim()) || Number(rawSteps) < 1) {
        throw new MigrateError('BAD_ARGUMENT', `\`--steps\` must be a whole number of at least 1, got \`${rawSteps}\`.`, { hint: 'Example: `npm run migrate:rollback -- --steps=2`' })
      }
      steps = Number(rawSteps)
    }
    const to = ctx.values.to as string | undefined
    const dryRun = ctx.values['dry-run'] === true
    const accept = ctx.values['accept-data-loss'] === true
    // Before connecting: bad combinations fail fast and touch nothing.
    validateRollbackArgs({ steps, to })
    const timeouts = timeoutOptions(ctx.values)
    for (const f of ctx.fromNpm) ctx.out.out(`Using: ${formatValue(f.option, f.value)} (given before \`--\` or an npm setting; npm passed it as ${f.envKey})`)
    const db = await ctx.database()
    ctx.out.out(databaseLine(db))
    const opts: RollbackOptions = { ...libOptions(ctx, db.url), ...timeouts, ...(steps !== undefined ? { steps } : {}), ...(to !== undefined ? { to } : {}) }
    const which = to !== undefined ? `--to=${to}` : steps !== undefined ? `--steps=${steps}` : ''
    const cmd = (extra: string): string => `npm run migrate:rollback -- ${[which, extra].filter(Boolean).join(' ')}`

    if (dryRun) {
      const r = await rollback({ ...opts, dryRun: true })
      if (r.plan.length === 0) return nothingToDo(ctx, r.remainingLatest)
      ctx.out.out(`Dry run: ${r.plan.length} migration${r.plan.length === 1 ? '' : 's'} would be rolled back, in one transaction; nothing is changed`)
      for (const step of r.plan) {
        ctx.out.out(`Would roll back: ${step.name}`)
        ctx.out.out(`  SQL (${displayPath(step.downPath)}):`)
        for (const line of step.downSql.replace(/\s+$/, '').split('\n')) ctx.out.out(`    ${line}`.trimEnd())
      }
      if (r.loss.items.length) printLoss(ctx.out, 'Would lose (measured by running the plan in a transaction that was rolled back):', r.loss)
      else ctx.out.out('Would lose: no data (nothing it drops or changes holds rows)')
      ctx.out.out(`After: ${r.remainingLatest ? `latest applied would be \`${r.remainingLatest}\`` : 'no migrations would be applied'}`)
      return 0
    }

    let r
    try {
      if (!accept && canAsk()) {
        // Measure first (rolled back), ask with no lock held, then roll back for real: the
        // library commits only while what it destroys then is within what was confirmed.
        const probe = await rollback({ ...opts, dryRun: true })
        if (probe.plan.length === 0) return nothingToDo(ctx, probe.remainingLatest)
        if (probe.loss.losesData) {
          ctx.out.out(`Plan: undo ${probe.plan.map((p) => p.name).join(', ')}`)
          printLoss(ctx.out, 'This rollback destroys data:', probe.loss)
        }
        r = await runConfirmed(ctx.out, probe.loss, 'Roll back and lose this data?', (confirmedLoss) => rollback({ ...opts, confirmedLoss }))
        if (!r) {
          ctx.out.err('Cancelled: nothing was changed')
          return 1
        }
      } else {
        r = await rollback({ ...opts, ...(accept ? { acceptDataLoss: true } : {}) })
      }
    } catch (err) {
      throw withRefusalHint(err, cmd('--dry-run'), cmd('--accept-data-loss'))
    }
    if (r.plan.length === 0) return nothingToDo(ctx, r.remainingLatest)
    for (const s of r.rolledBack) ctx.out.out(`Rolled back: ${s.name} in ${s.durationMs}ms`)
    printLoss(ctx.out, 'Lost:', r.loss, 'data')
    ctx.out.out(`Done: ${r.rolledBack.length} rolled back; ${r.remainingLatest ? `latest applied is now \`${r.remainingLatest}\`` : 'no migrations are applied'}`)
    return 0
  },
}

function nothingToDo(ctx: Parameters<Command['run']>[0], latest: string | undefined): number {
  ctx.out.out(latest ? `Nothing to roll back: \`${latest}\` is already the latest applied migration` : 'Nothing to roll back: no migrations are applied')
  return 0
}
