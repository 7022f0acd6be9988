import { verify } from '../../migrate/index.ts'
import { MIGRATIONS_DIR_OPTION, libOptions, type Command } from '../command.ts'
import { databaseLine } from '../render.ts'

export const verifyCommand: Command = {
  name: 'migrate:verify',
  scriptNames: ['migrate:verify'],
  summary: 'Check on a throwaway database that every down.sql exactly undoes its migration.sql, empty and on seeded data.',
  options: [
    { name: 'skip-seed', type: 'boolean', description: 'Only the empty round trip (default for a migrations folder other than prisma/migrations)' },
    MIGRATIONS_DIR_OPTION,
  ],
  examples: ['npm run migrate:verify', 'npm run migrate:verify -- --skip-seed'],
  exitCodes: [
    ['OK', 'every migration goes up, down and up again with identical catalogs, and on seeded data each rollback reports exactly what it destroys and applies again'],
    ['FAILED', 'a difference or failure (named per object)'],
    ['HISTORY', 'a folder without migration.sql'],
  ],
  async run(ctx) {
    const db = await ctx.database()
    ctx.out.out(databaseLine(db))
    const r = await verify({ ...libOptions(ctx, db.url), ...(ctx.values['skip-seed'] === true ? { seed: false } : {}) })
    const bad = r.migrations.filter((m) => !m.ok).length + r.onData.filter((m) => !m.ok).length
    const total = r.migrations.length
    if (r.ok) ctx.out.out(`Done: ${total} of ${total} migrations verified (up, down, up)${r.onData.length ? `; ${r.onData.length} rollbacks on seeded data re-applied, loss reports exact` : ''}`)
    else ctx.out.out(`Done: ${total - bad} verified, ${bad} with problems${r.stoppedEarly ? ' (stopped early: a migration could not be applied)' : ''}`)
    return r.ok ? 0 : 1
  },
}
