import { deploy, ensureClientFresh } from '../../migrate/index.ts'
import { MIGRATIONS_DIR_OPTION, libOptions, type Command } from '../command.ts'
import { CLIENT_REGENERATED, databaseLine } from '../render.ts'
import { TIMEOUT_OPTIONS, timeoutOptions } from '../safety.ts'

export const migrateCommand: Command = {
  name: 'migrate',
  scriptNames: ['migrate', 'migrate:run'],
  guardsNpm: true,
  summary: 'Apply pending migrations, each in its own transaction (Prisma `migrate deploy` semantics).',
  options: [...TIMEOUT_OPTIONS, MIGRATIONS_DIR_OPTION],
  examples: ['npm run migrate', 'npm run migrate:run', 'DATABASE_URL=postgresql://app:secret@db:5432/app npm run migrate'],
  exitCodes: [
    ['OK', 'all migrations applied'],
    ['FAILED', 'a migration failed (rolled back, recorded as failed)'],
    ['HISTORY', 'a failed, edited, missing or out-of-order migration, a folder without migration.sql, or one with its own COMMIT/ROLLBACK, blocks the deploy; nothing applied'],
    ['TIMEOUT', 'a table lock was not granted in time (that migration rolled back; earlier ones stay applied)'],
  ],
  async run(ctx) {
    const timeouts = timeoutOptions(ctx.values)
    const db = await ctx.database()
    ctx.out.out(databaseLine(db))
    const t0 = performance.now()
    const r = await deploy({ ...libOptions(ctx, db.url), ...timeouts })
    const total = r.alreadyApplied + r.applied.length
    if (r.applied.length === 0) ctx.out.out(`Up to date: ${total} migration${total === 1 ? '' : 's'} applied, none pending`)
    else ctx.out.out(`Up to date: ${total} migration${total === 1 ? '' : 's'} applied (${r.applied.length} just now, ${Math.round(performance.now() - t0)}ms)`)
    // The project's own history: the client must know what was just migrated (Prisma 7 leaves it stale).
    if (!ctx.migrationsDir && ensureClientFresh().regenerated) ctx.out.out(CLIENT_REGENERATED)
    return 0
  },
}
