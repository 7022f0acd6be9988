import { describeUrl, maskUrl } from '../../db/config.ts'
import { describeLoss, readMigrations, reset, runSeed, MigrateError, type ResetOptions } from '../../migrate/index.ts'
import { defaultMigrationsDir } from '../../migrate/options.ts'
import { MIGRATIONS_DIR_OPTION, libOptions, type Command } from '../command.ts'
import { databaseLine } from '../render.ts'
import { TIMEOUT_OPTIONS, canAsk, confirm, printLoss, runConfirmed, timeoutOptions, withRefusalHint } from '../safety.ts'

export const resetCommand: Command = {
  name: 'migrate:reset',
  scriptNames: ['migrate:reset'],
  guardsNpm: true,
  summary: 'Drop the schema with ALL its tables and data, re-apply every migration, then seed.',
  options: [
    { name: 'force', type: 'boolean', description: 'Do not ask for confirmation (required without a terminal); counts only after `--`', typedOnly: true },
    { name: 'dry-run', type: 'boolean', description: 'Print exactly what data the drop would destroy; change nothing', fromNpm: true },
    { name: 'skip-seed', type: 'boolean', description: 'Do not run `prisma db seed` afterwards' },
    ...TIMEOUT_OPTIONS,
    MIGRATIONS_DIR_OPTION,
  ],
  examples: ['npm run migrate:reset', 'npm run migrate:reset -- --dry-run', 'npm run migrate:reset -- --force --skip-seed'],
  exitCodes: [['OK', 'reset done'], ['FAILED', 'cancelled, or a migration or the seed failed'], 'HISTORY', ['DATA_LOSS_REFUSED', 'refused: no terminal to confirm on and no --force typed after `--`; nothing changed'], ['TIMEOUT', 'a table lock was not granted in time; nothing changed']],
  async run(ctx) {
    const force = ctx.values.force === true
    const dryRun = ctx.values['dry-run'] === true
    const seed = ctx.values['skip-seed'] !== true
    const timeouts = timeoutOptions(ctx.values)
    const db = await ctx.database()
    const info = describeUrl(db.url)
    const count = readMigrations(ctx.migrationsDir ?? defaultMigrationsDir()).length
    const what = `schema \`${info.schema}\` of database \`${info.database}\` on \`${info.host}:${info.port}\``
    const opts: ResetOptions = { ...libOptions(ctx, db.url), ...timeouts }
    ctx.out.out(databaseLine(db))
    if (dryRun || (!force && !canAsk())) {
      const probe = await reset({ ...opts, dryRun: true })
      if (dryRun) {
        ctx.out.out(`Dry run: would drop ${what} and re-apply ${count} migration${count === 1 ? '' : 's'}; nothing is changed`)
        if (probe.loss.items.length) printLoss(ctx.out, 'Would lose:', probe.loss)
        else ctx.out.out('Would lose: no data')
        return 0
      }
      throw withRefusalHint(
        new MigrateError('DATA_LOSS_REFUSED', `Refusing to reset without confirmation: no terminal to ask on. This would drop ${what} with all its data. Nothing was changed.`, {
          details: probe.loss.items.length ? ['Data that would be lost:', ...probe.loss.items.flatMap((i) => describeLoss(i).map((l) => `    ${l}`))] : ['It holds no data.'],
        }),
        'npm run migrate:reset -- --dry-run',
        'npm run migrate:reset -- --force',
      )
    }
    let r
    try {
      if (force) r = await reset({ ...opts, acceptDataLoss: true })
      else {
        const probe = await reset({ ...opts, dryRun: true })
        ctx.out.err(`Warning: this drops ${what} (${maskUrl(db.url)}) with ALL its tables and data,`)
        ctx.out.err(`then re-applies ${count} migration${count === 1 ? '' : 's'}${seed ? ' and runs the seed' : ''}.`)
        printLoss(ctx.out, 'It destroys:', probe.loss)
        // The drop of the schema itself is what is asked about, data or not.
        if (!probe.loss.losesData && !(await confirm('Continue?'))) {
          ctx.out.err('Cancelled: nothing was changed')
          return 1
        }
        r = await runConfirmed(ctx.out, probe.loss, 'Continue?', (confirmedLoss) => reset({ ...opts, confirmedLoss }))
        if (!r) {
          ctx.out.err('Cancelled: nothing was changed')
          return 1
        }
      }
    } catch (err) {
      throw withRefusalHint(err, 'npm run migrate:reset -- --dry-run', 'npm run migrate:reset -- --force')
    }
    printLoss(ctx.out, 'Lost:', r.loss, 'data')
    if (seed) {
      ctx.out.out('Seeding: npx prisma db seed')
      // The seed prints its own time (`Seeded in …s`): one time, not two.
      await runSeed({ url: db.url, onLine: (line, stream) => (stream === 'stderr' ? ctx.out.err(`  ${line}`) : ctx.out.out(`  ${line}`)) })
    }
    const applied = r.deploy?.applied.length ?? 0
    ctx.out.out(`Done: schema ${r.schema} recreated, ${applied} migration${applied === 1 ? '' : 's'} applied${seed ? ', seeded' : ''}`)
    return 0
  },
}
