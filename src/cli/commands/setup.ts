import { deploy, runSeed, status } from '../../migrate/index.ts'
import { MIGRATIONS_DIR_OPTION, libOptions, type Command } from '../command.ts'
import { databaseLine, printStatus } from '../render.ts'

export const setupCommand: Command = {
  name: 'setup',
  scriptNames: ['setup'],
  guardsNpm: true,
  summary: 'First run on a fresh machine: find or start the database, apply migrations, seed, show status.',
  options: [{ name: 'skip-seed', type: 'boolean', description: 'Do not run `prisma db seed`' }, MIGRATIONS_DIR_OPTION],
  examples: ['npm run setup', 'DATABASE_URL=postgresql://app:secret@db:5432/app npm run setup'],
  exitCodes: [['OK', 'ready'], ['FAILED', 'a migration or the seed failed'], 'HISTORY', 'TIMEOUT'],
  async run(ctx) {
    const db = await ctx.database()
    ctx.out.out(databaseLine(db))
    const opts = libOptions(ctx, db.url)
    await deploy(opts)
    if (ctx.values['skip-seed'] !== true) {
      ctx.out.out('Seeding: npx prisma db seed')
      // The seed prints its own time (`Seeded in …s`): one time, not two.
      await runSeed({ url: db.url, onLine: (line, stream) => (stream === 'stderr' ? ctx.out.err(`  ${line}`) : ctx.out.out(`  ${line}`)) })
    }
    const s = await status(opts)
    printStatus(ctx.out, s)
    return s.upToDate ? 0 : 1
  },
}
