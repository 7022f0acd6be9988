import { status } from '../../migrate/index.ts'
import { MIGRATIONS_DIR_OPTION, libOptions, type Command } from '../command.ts'
import { databaseLine, printStatus } from '../render.ts'

export const statusCommand: Command = {
  name: 'migrate:status',
  scriptNames: ['migrate:status'],
  summary: 'Show every migration: applied (when), pending, failed or rolled back, with its down.sql and checksum.',
  options: [{ name: 'json', type: 'boolean', description: 'Print one JSON object (for scripts)' }, MIGRATIONS_DIR_OPTION],
  examples: ['npm run migrate:status', 'npm run migrate:status -- --json'],
  exitCodes: [['OK', 'up to date'], ['FAILED', 'migrations are pending'], ['HISTORY', 'needs attention: a failed, edited, out-of-order migration, one missing locally, a folder without migration.sql, or an invalid index']],
  async run(ctx) {
    const db = await ctx.database()
    const s = await status(libOptions(ctx, db.url))
    const code = s.needsAttention ? 3 : s.counts.pending ? 1 : 0
    if (ctx.values.json) {
      ctx.out.out(
        JSON.stringify({
          upToDate: s.upToDate,
          needsAttention: s.needsAttention,
          counts: s.counts,
          lockHolder: s.lockHolder ?? null,
          invalidIndexes: s.invalidIndexes,
          migrations: s.entries.map((e) => ({
            name: e.name,
            state: e.state,
            appliedAt: e.state === 'applied' ? e.row?.finishedAt : null,
            startedAt: e.row?.startedAt ?? null,
            rolledBackAt: e.row?.rolledBackAt ?? null,
            hasDown: e.hasDown,
            downIncomplete: e.downIncomplete,
            checksumMatches: e.checksumMatches ?? null,
            missingLocally: e.missingLocally,
            outOfOrder: e.outOfOrder,
            logs: e.state === 'failed' ? (e.row?.logs ?? null) : null,
          })),
        }),
      )
      return code
    }
    ctx.out.out(databaseLine(db))
    printStatus(ctx.out, s)
    return code
  },
}
