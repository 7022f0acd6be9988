// messages' partitions (010): `messages:partitions` makes them ahead of need (cron-safe),
// `messages:retain` drops whole old ones. Library: src/migrate/partitions.ts.
import { MigrateError } from '../../migrate/index.ts'
import { ensurePartitions, retainMessages } from '../../migrate/partitions.ts'
import type { Command } from '../command.ts'
import { databaseLine } from '../render.ts'
import { canAsk, confirm, printLoss, withRefusalHint } from '../safety.ts'

function wholeNumber(raw: unknown, name: string, min: number, example: string): number | undefined {
  if (raw === undefined) return undefined
  if (typeof raw !== 'string' || !/^\d+$/.test(raw.trim()) || Number(raw) < min) {
    throw new MigrateError('BAD_ARGUMENT', `\`--${name}\` must be a whole number of at least ${min}, got \`${String(raw)}\`.`, { hint: `Example: \`${example}\`` })
  }
  return Number(raw)
}

export const partitionsCommand: Command = {
  name: 'messages:partitions',
  scriptNames: ['messages:partitions'],
  summary: 'Create partitions of messages ahead of the id sequence (idempotent; safe from cron and concurrently).',
  options: [
    { name: 'ahead', type: 'string', valueName: '<n>', description: 'Partitions that must exist wholly above the current id (default 4)' },
    { name: 'width', type: 'string', valueName: '<ids>', description: 'Ids per new partition (default: as the newest partition; 1000000 at first)' },
  ],
  examples: ['npm run messages:partitions', 'npm run messages:partitions -- --ahead=24', '*/10 * * * * cd /srv/watify && npm run -s messages:partitions'],
  exitCodes: [['OK', 'the partitions exist'], ['BAD_INPUT', 'bad arguments, or messages is not partitioned (run `npm run migrate`)'], ['TIMEOUT', 'a lock was not granted in time; nothing changed, run it again']],
  async run(ctx) {
    const ahead = wholeNumber(ctx.values.ahead, 'ahead', 0, 'npm run messages:partitions -- --ahead=4') ?? 4
    const width = wholeNumber(ctx.values.width, 'width', 1000, 'npm run messages:partitions -- --width=1000000')
    const db = await ctx.database()
    ctx.out.out(databaseLine(db))
    const r = await ensurePartitions({ url: db.url, ahead, ...(width !== undefined ? { width } : {}) })
    for (const p of r.created) ctx.out.out(`Created: ${p.name} (ids ${p.fromId} to ${BigInt(p.toId) - 1n})`)
    const above = r.partitions.filter((p) => p.fromId !== null && BigInt(p.fromId) > BigInt(r.lastId)).length
    ctx.out.out(`Partitions: ${r.partitions.length} (${above} ahead of id ${r.lastId}; ${r.created.length} created now)`)
    return 0
  },
}

export const retainCommand: Command = {
  name: 'messages:retain',
  scriptNames: ['messages:retain'],
  summary: 'Drop whole partitions of messages older than an interval (detached concurrently), optionally archived first.',
  options: [
    { name: 'older-than', type: 'string', valueName: '<interval>', description: 'Drop partitions whose newest message is older than this (PostgreSQL interval: "90 days", 1year)' },
    { name: 'archive', type: 'string', valueName: '<dir>', description: 'First write each partition to <dir>/<partition>.copy (COPY text format; load back with \\copy messages FROM ...)' },
    { name: 'dry-run', type: 'boolean', description: 'List the partitions and rows it would drop; change nothing' },
    { name: 'accept-data-loss', type: 'boolean', description: 'Go ahead without asking (needed without a terminal)' },
  ],
  examples: ['npm run messages:retain -- --older-than="1 year" --dry-run', 'npm run messages:retain -- --older-than="1 year" --archive=/backups/messages --accept-data-loss'],
  exitCodes: [['OK', 'dropped (or nothing old enough)'], 'BAD_INPUT', ['DATA_LOSS_REFUSED', 'refused: it would drop rows, and no terminal / no --accept-data-loss; nothing changed']],
  async run(ctx) {
    const olderThan = ctx.values['older-than']
    if (typeof olderThan !== 'string' || olderThan.trim() === '') {
      throw new MigrateError('BAD_ARGUMENT', '`--older-than` is required.', { hint: 'Example: `npm run messages:retain -- --older-than="1 year" --dry-run`' })
    }
    const archiveDir = ctx.values.archive as string | undefined
    const dryRun = ctx.values['dry-run'] === true
    const accept = ctx.values['accept-data-loss'] === true
    const db = await ctx.database()
    ctx.out.out(databaseLine(db))
    const cmd = (extra: string) => `npm run messages:retain -- --older-than="${olderThan}"${archiveDir ? ` --archive=${archiveDir}` : ''} ${extra}`
    let r
    try {
      r = await retainMessages({
        url: db.url,
        olderThan,
        ...(archiveDir ? { archiveDir } : {}),
        dryRun,
        consent: async (loss) => {
          if (accept) return true
          if (!canAsk()) return false
          printLoss(ctx.out, 'Retention destroys data:', loss)
          return confirm(`Drop these partitions${archiveDir ? ` (archived to ${archiveDir} first)` : ''}?`)
        },
        onPartition: (p, step, detail) => ctx.out.out(`${step === 'archived' ? 'Archived' : step === 'detached' ? 'Detached' : 'Dropped'}: ${p.name}${detail ? ` -> ${detail}` : step === 'dropped' ? ` (${p.rows} rows)` : ''}`),
      })
    } catch (err) {
      throw withRefusalHint(err, cmd('--dry-run'), cmd('--accept-data-loss'))
    }
    if (r.partitions.length === 0) {
      ctx.out.out(`Nothing to drop: no partition holds only messages older than ${r.cutoff.toISOString()}`)
      return 0
    }
    if (dryRun) {
      printLoss(ctx.out, `Would drop (newest message before ${r.cutoff.toISOString()}):`, r.loss)
      return 0
    }
    const rows = r.partitions.reduce((s, p) => s + p.rows, 0)
    ctx.out.out(`Done: ${r.partitions.length} partition(s) dropped, ${rows} rows removed`)
    return 0
  },
}
