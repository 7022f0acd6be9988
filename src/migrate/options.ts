import { existsSync } from 'node:fs'
import path from 'node:path'
import { projectRoot } from '../db/config.ts'
import { silentLogger, type Logger } from './logger.ts'

/** Options every command of the library accepts. */
export interface CommonOptions {
  /** postgresql:// URL; Prisma's `?schema=` selects the schema (default public). */
  url: string
  /** Default: `<project root>/prisma/migrations`. */
  migrationsDir?: string
  logger?: Logger
  /** How long to wait for another migration holding the migration (advisory) lock. Default 300000. */
  migrationLockWaitMs?: number
}

export function defaultMigrationsDir(): string {
  return path.join(projectRoot(), 'prisma', 'migrations')
}

export function resolved(opts: CommonOptions): { migrationsDir: string; logger: Logger } {
  return { migrationsDir: path.resolve(opts.migrationsDir ?? defaultMigrationsDir()), logger: opts.logger ?? silentLogger }
}

export { displayPath } from '../db/config.ts'

/** `npm run` puts node_modules/.bin on PATH; children we spawn (prisma, its seed command `tsx ...`) need it too. */
export function withLocalBin(root: string, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, PATH: [path.join(root, 'node_modules', '.bin'), env.PATH].filter(Boolean).join(path.delimiter) }
}

/**
 * The environment of a Prisma CLI child working on `url`: the same server under
 * every name prisma.config.ts reads (DIRECT_DATABASE_URL first, then
 * DATABASE_URL), whatever our own environment or .env say, plus `extra`
 * (SHADOW_DATABASE_URL) and node_modules/.bin on PATH.
 */
export function prismaChildEnv(root: string, url: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return withLocalBin(root, { ...process.env, ...extra, DATABASE_URL: url, DIRECT_DATABASE_URL: url })
}

/** `prisma <args>` as `npx prisma` would run it: the project's own binary when installed (skipping npx's startup), else through npx. */
export function prismaCommand(root: string, args: readonly string[]): [string, string[]] {
  const local = path.join(root, 'node_modules', '.bin', 'prisma')
  return existsSync(local) ? [local, [...args]] : ['npx', ['prisma', ...args]]
}
