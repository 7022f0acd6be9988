// Seeding goes through `prisma db seed` (prisma.config.ts names the seed
// command), run as a child process with DATABASE_URL pointing at the target.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { projectRoot } from '../db/config.ts'
import { MigrateError } from './errors.ts'
import { withLocalBin } from './options.ts'

export interface SeedOptions {
  url: string
  /** Receives each output line of the child (stdout and stderr). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void
}

export async function runSeed(opts: SeedOptions): Promise<{ durationMs: number }> {
  const root = projectRoot()
  const local = path.join(root, 'node_modules', '.bin', 'prisma')
  // The local binary is what `npx prisma` resolves to; calling it directly skips npx's startup.
  const [cmd, args] = existsSync(local) ? [local, ['db', 'seed']] : ['npx', ['prisma', 'db', 'seed']]
  const t0 = performance.now()
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(cmd, args as string[], { cwd: root, env: withLocalBin(root, { ...process.env, DATABASE_URL: opts.url }), stdio: ['ignore', 'pipe', 'pipe'] })
    for (const stream of ['stdout', 'stderr'] as const) {
      let buf = ''
      child[stream].setEncoding('utf8')
      child[stream].on('data', (chunk: string) => {
        buf += chunk
        let nl: number
        while ((nl = buf.indexOf('\n')) >= 0) {
          // Prisma pads its output with blank lines; keep ours compact.
          if (buf.slice(0, nl).trim()) opts.onLine?.(buf.slice(0, nl), stream)
          buf = buf.slice(nl + 1)
        }
      })
      child[stream].on('end', () => {
        if (buf.trim()) opts.onLine?.(buf, stream)
      })
    }
    child.on('error', reject)
    child.on('close', (c, signal) => resolve(c ?? (signal ? 128 : 1)))
  })
  if (code !== 0) {
    throw new MigrateError('SEED_FAILED', `Seeding failed: \`prisma db seed\` exited with code ${code}.`, { hint: 'Fix the seed (output above), then run `npx prisma db seed`' })
  }
  return { durationMs: Math.round(performance.now() - t0) }
}
