// Seeding goes through `prisma db seed` (prisma.config.ts names the seed
// command), run as a child process with DATABASE_URL pointing at the target.
import { projectRoot } from '../db/config.ts'
import { runProcess } from '../process.ts'
import { MigrateError } from './errors.ts'
import { prismaChildEnv, prismaCommand } from './options.ts'

export interface SeedOptions {
  url: string
  /** Receives each output line of the child (stdout and stderr). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void
}

export async function runSeed(opts: SeedOptions): Promise<{ durationMs: number }> {
  const root = projectRoot()
  const [cmd, args] = prismaCommand(root, ['db', 'seed'])
  const t0 = performance.now()
  const { code, signal } = await runProcess(cmd, args, {
    cwd: root,
    env: prismaChildEnv(root, opts.url),
    // Prisma pads its output with blank lines; keep ours compact.
    onLine: (line, stream) => {
      if (line.trim()) opts.onLine?.(line, stream)
    },
  })
  if (code !== 0) {
    const how = code === null ? `was killed by ${signal}` : `exited with code ${code}`
    throw new MigrateError('SEED_FAILED', `Seeding failed: \`prisma db seed\` ${how}.`, { hint: 'Fix the seed (output above), then run `npx prisma db seed`' })
  }
  return { durationMs: Math.round(performance.now() - t0) }
}
