import { createInterface } from 'node:readline/promises'
import { describeUrl, maskUrl } from '../../db/config.ts'
import { MigrateError, readMigrations, reset, runSeed } from '../../migrate/index.ts'
import { defaultMigrationsDir } from '../../migrate/options.ts'
import { MIGRATIONS_DIR_OPTION, libOptions, type Command } from '../command.ts'
import { databaseLine } from '../render.ts'

export const resetCommand: Command = {
  name: 'migrate:reset',
  scriptNames: ['migrate:reset'],
  summary: 'Drop the schema with ALL its tables and data, re-apply every migration, then seed.',
  options: [
    { name: 'force', type: 'boolean', description: 'Do not ask for confirmation (required without a terminal)' },
    { name: 'skip-seed', type: 'boolean', description: 'Do not run `prisma db seed` afterwards' },
    MIGRATIONS_DIR_OPTION,
  ],
  examples: ['npm run migrate:reset', 'npm run migrate:reset -- --force --skip-seed'],
  exitCodes: ['0  reset done', '1  cancelled, or a migration or the seed failed', '2  no terminal to confirm and no --force'],
  async run(ctx) {
    const db = await ctx.database()
    const info = describeUrl(db.url)
    const count = readMigrations(ctx.migrationsDir ?? defaultMigrationsDir()).length
    const force = ctx.values.force === true
    const seed = ctx.values['skip-seed'] !== true
    const what = `schema \`${info.schema}\` of database \`${info.database}\` on \`${info.host}:${info.port}\``
    if (!force) {
      if (!process.stdin.isTTY || !process.stdout.isTTY) {
        throw new MigrateError('BAD_ARGUMENT', `Refusing to reset without confirmation: no terminal to ask on. This would drop ${what} with all its data.`, {
          hint: 'If that is really what you want: `npm run migrate:reset -- --force`',
        })
      }
      ctx.out.err(`Warning: this drops ${what} (${maskUrl(db.url)}) with ALL its tables and data,`)
      ctx.out.err(`then re-applies ${count} migration${count === 1 ? '' : 's'}${seed ? ' and runs the seed' : ''}.`)
      const rl = createInterface({ input: process.stdin, output: process.stderr })
      const answer = await rl.question('Continue? [y/N] ')
      rl.close()
      if (!/^y(es)?$/i.test(answer.trim())) {
        ctx.out.err('Cancelled: nothing was changed')
        return 1
      }
    }
    ctx.out.out(databaseLine(db))
    const r = await reset(libOptions(ctx, db.url))
    if (seed) {
      ctx.out.out('Seeding: npx prisma db seed')
      // The seed prints its own time (`Seeded in …s`): one time, not two.
      await runSeed({ url: db.url, onLine: (line, stream) => (stream === 'stderr' ? ctx.out.err(`  ${line}`) : ctx.out.out(`  ${line}`)) })
    }
    ctx.out.out(`Done: schema ${r.schema} recreated, ${r.deploy.applied.length} migration${r.deploy.applied.length === 1 ? '' : 's'} applied${seed ? ', seeded' : ''}`)
    return 0
  },
}
