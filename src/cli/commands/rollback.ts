import path from 'node:path'
import { rollback, validateRollbackArgs, MigrateError } from '../../migrate/index.ts'
import { displayPath } from '../../migrate/options.ts'
import { formatValue } from '../args.ts'
import { MIGRATIONS_DIR_OPTION, libOptions, type Command } from '../command.ts'
import { databaseLine } from '../render.ts'

export const rollbackCommand: Command = {
  name: 'migrate:rollback',
  scriptNames: ['migrate:rollback'],
  summary: 'Undo applied migrations with their down.sql, newest first (default: the last one).',
  options: [
    { name: 'steps', type: 'string', valueName: '<n>', description: 'Roll back the last n applied migrations (default 1)' },
    { name: 'to', type: 'string', valueName: '<migration>', description: 'Roll back everything after <migration> and keep it (folder name, or name without its number)', npmAliases: ['token-description'] },
    { name: 'dry-run', type: 'boolean', description: 'Print the plan, the SQL and the data it would drop; change nothing' },
    MIGRATIONS_DIR_OPTION,
  ],
  examples: [
    'npm run migrate:rollback',
    'npm run migrate:rollback --steps=2            (same as: npm run migrate:rollback -- --steps=2)',
    'npm run migrate:rollback --to=001_create_users_table',
    'npm run migrate:rollback -- --to=create_users_table --dry-run',
  ],
  exitCodes: ['0  rolled back (or nothing to do)', '1  a down.sql failed (that step undone) or is missing', '2  bad arguments; nothing was touched', '3  migration.sql was edited since it was applied'],
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
    // Before connecting: bad combinations fail fast and touch nothing.
    validateRollbackArgs({ steps, to })
    for (const f of ctx.fromNpm) ctx.out.out(`Using: ${formatValue(f.option, f.value)} (given before \`--\`; npm passed it as ${f.envKey})`)
    const db = await ctx.database()
    ctx.out.out(databaseLine(db))
    const r = await rollback({ ...libOptions(ctx, db.url), ...(steps !== undefined ? { steps } : {}), ...(to !== undefined ? { to } : {}), dryRun })
    if (r.plan.length === 0) {
      ctx.out.out(`Nothing to roll back: \`${r.remainingLatest}\` is already the latest applied migration`)
      return 0
    }
    const after = r.remainingLatest ? `latest applied is now \`${r.remainingLatest}\`` : 'no migrations are applied'
    if (!r.dryRun) {
      ctx.out.out(`Done: ${r.rolledBack.length} rolled back; ${after}`)
      return 0
    }
    ctx.out.out(`Dry run: ${r.plan.length} migration${r.plan.length === 1 ? '' : 's'} would be rolled back; nothing is changed`)
    for (const step of r.plan) {
      ctx.out.out(`Would roll back: ${step.name}`)
      ctx.out.out(`  SQL (${displayPath(path.join(path.dirname(step.downPath), 'down.sql'))}):`)
      for (const line of step.downSql.replace(/\s+$/, '').split('\n')) ctx.out.out(`    ${line}`.trimEnd())
      for (const d of step.dataAtRisk ?? []) {
        const table = d.drop.table.schema ? `${d.drop.table.schema}.${d.drop.table.name}` : d.drop.table.name
        if (d.drop.kind === 'table') ctx.out.out(d.exists ? `  Data: drops table \`${table}\` with ${d.rows} row${d.rows === 1 ? '' : 's'}` : `  Data: table \`${table}\` does not exist (nothing to lose)`)
        else ctx.out.out(d.exists ? `  Data: drops column \`${table}.${d.drop.column}\` with ${d.nonNull} non-null value${d.nonNull === 1 ? '' : 's'} (${d.rows} row${d.rows === 1 ? '' : 's'})` : `  Data: column \`${table}.${d.drop.column}\` does not exist (nothing to lose)`)
      }
    }
    ctx.out.out(`After: ${after.replace('is now', 'would be').replace('no migrations are applied', 'no migrations would be applied')}`)
    return 0
  },
}
