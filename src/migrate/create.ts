// `migrate:create`: the next numbered migration from schema.prisma changes
// (Prisma's `migrate dev --create-only`), with a down.sql computed by diffing
// the other way. Both diffs run BEFORE anything is written, against the
// existing migrations, so a failure leaves the folder untouched.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { projectRoot } from '../db/config.ts'
import { MigrateError } from './errors.ts'
import { INCOMPLETE_DOWN_MARKER, readMigrations } from './files.ts'
import { silentLogger, type Logger } from './logger.ts'
import { defaultMigrationsDir, displayPath, withLocalBin } from './options.ts'
import { quoteIdent, splitStatements } from './sql.ts'
import { connect, withDatabase } from './connection.ts'
import { randomBytes } from 'node:crypto'

export interface CreateOptions {
  name: string
  migrationsDir?: string
  /** Default `<project root>/prisma/schema.prisma`. */
  schemaPath?: string
  /** Create an empty migration for hand-written SQL (down.sql is a stub to complete). */
  empty?: boolean
  logger?: Logger
  /** Extra environment for the Prisma CLI (DATABASE_URL; SHADOW_DATABASE_URL to use your own shadow database). */
  env?: Record<string, string>
  /**
   * Database URL whose server hosts a throwaway shadow database for
   * `--from-migrations` (created and dropped here) unless env or
   * process.env has SHADOW_DATABASE_URL.
   */
  url?: string
}

export interface CreateResult {
  /** Undefined when nothing changed and `empty` was not asked for. */
  name: string | undefined
  dir: string | undefined
  /** Notes for the author: parts that need hand-written SQL. */
  needsHandWork: string[]
}

export const NAME_PATTERN = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/

export function validateMigrationName(name: string): void {
  if (!NAME_PATTERN.test(name) || name.length > 200) {
    const suggestion = name.trim().toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '').replace(/^(\d)/, 'm_$1') || 'add_something'
    throw new MigrateError('BAD_ARGUMENT', `Migration name \`${name}\` is not snake_case (lowercase letters, digits, single underscores, starting with a letter).`, {
      hint: `Example: \`npm run migrate:create -- --name ${suggestion}\``,
    })
  }
}

/** First statement of every generated migration.sql (see docs/migration-lint.md). */
export const LOCK_TIMEOUT_LINE = "SET lock_timeout = '5s';"

export function nextMigrationName(existing: string[], name: string): string {
  let max = 0
  let width = 3
  for (const n of existing) {
    const m = /^(\d+)_/.exec(n)
    if (!m) continue
    max = Math.max(max, Number(m[1]))
    width = Math.max(width, m[1]!.length)
  }
  return `${String(max + 1).padStart(width, '0')}_${name}`
}

async function prismaDiff(args: string[], env: Record<string, string>): Promise<string> {
  const root = projectRoot()
  const bin = path.join(root, 'node_modules', '.bin', 'prisma')
  const [cmd, argv] = existsSync(bin) ? [bin, ['migrate', 'diff', ...args]] : ['npx', ['prisma', 'migrate', 'diff', ...args]]
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv as string[], { cwd: root, env: withLocalBin(root, { ...process.env, ...env }), stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) resolve(out)
      else {
        reject(
          new MigrateError('PRISMA_CLI', `\`prisma migrate diff ${args.join(' ')}\` failed (exit code ${code}).`, {
            hint: 'Check that `npx prisma validate` passes and the schema engine works (`npx prisma version`)',
            details: (err || out).trim().split('\n').slice(-15).map((l) => `    ${l}`),
          }),
        )
      }
    })
  })
}

/** A throwaway shadow database next to `url` (never `url`'s own database: Prisma resets the shadow). */
async function createShadow(url: string): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = await connect(url)
  const suffix = `_shadow_${randomBytes(4).toString('hex')}`
  const name = admin.target.database.slice(0, 63 - suffix.length) + suffix
  try {
    await admin.client.query(`CREATE DATABASE ${quoteIdent(name)}`)
  } catch (err) {
    await admin.close()
    throw new MigrateError('PERMISSION', `Cannot create a shadow database for \`prisma migrate diff\`: ${(err as Error).message}`, {
      hint: 'Set SHADOW_DATABASE_URL to an empty database you may reset, or grant CREATEDB',
      cause: err,
    })
  }
  return {
    url: withDatabase(url, name),
    drop: async () => {
      await admin.client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`).catch(() => {})
      await admin.close()
    },
  }
}

/** True when the script holds no statements (Prisma prints `-- This is an empty migration.`). */
function isEmptyScript(sql: string): boolean {
  return splitStatements(sql).length === 0
}

export async function createMigration(opts: CreateOptions): Promise<CreateResult> {
  validateMigrationName(opts.name)
  const logger = opts.logger ?? silentLogger
  const migrationsDir = path.resolve(opts.migrationsDir ?? defaultMigrationsDir())
  const schemaPath = path.resolve(opts.schemaPath ?? path.join(projectRoot(), 'prisma', 'schema.prisma'))
  mkdirSync(migrationsDir, { recursive: true })
  // Prisma reads the provider from this file when replaying migrations; the first migration writes it.
  const lockFile = path.join(migrationsDir, 'migration_lock.toml')
  if (!existsSync(lockFile)) writeFileSync(lockFile, '# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "postgresql"\n')
  const existing = readMigrations(migrationsDir)
  const clash = existing.find((m) => m.name.replace(/^\d+_/, '') === opts.name)
  if (clash) {
    throw new MigrateError('BAD_ARGUMENT', `A migration named \`${opts.name}\` already exists: \`${clash.name}\`.`, { hint: `Pick another name, e.g. \`npm run migrate:create -- --name ${opts.name}_2\`` })
  }
  const name = nextMigrationName(existing.map((m) => m.name), opts.name)
  const needsHandWork: string[] = []
  let up: string
  let down: string
  if (opts.empty) {
    up = `-- ${name}: write the migration SQL here.\n`
    down = `-- ${INCOMPLETE_DOWN_MARKER}: write SQL that undoes migration.sql, then delete this line.\n-- Rollbacks refuse to run this file while the line above is here.\n`
    needsHandWork.push('migration.sql and down.sql are empty: write both by hand, then run `npm run migrate:verify`')
  } else {
    // A fresh shadow database for each diff: each replays the migrations from scratch.
    const diff = async (args: string[]): Promise<string> => {
      const env = { ...opts.env }
      const shadow = !env.SHADOW_DATABASE_URL && !process.env.SHADOW_DATABASE_URL && opts.url ? await createShadow(opts.url) : undefined
      if (shadow) env.SHADOW_DATABASE_URL = shadow.url
      try {
        return await prismaDiff(args, env)
      } finally {
        await shadow?.drop()
      }
    }
    up = await diff(['--from-migrations', migrationsDir, '--to-schema', schemaPath, '--script'])
    if (isEmptyScript(up)) {
      logger.info(`No changes: ${displayPath(schemaPath)} matches the migrations; nothing was created.`)
      return { name: undefined, dir: undefined, needsHandWork: [] }
    }
    down = await diff(['--from-schema', schemaPath, '--to-migrations', migrationsDir, '--script'])
    // Lint rule (src/migrate/lint.ts): a blocked ALTER must give up, not queue every query on the table behind it.
    up = `${LOCK_TIMEOUT_LINE}\n${up}`
    if (/Warnings:/.test(up)) needsHandWork.push('Prisma flagged warnings in migration.sql (possible data loss or required columns without defaults): review it')
    if (/Warnings:/.test(down)) needsHandWork.push('Prisma flagged warnings in down.sql: review it')
    if (isEmptyScript(down)) needsHandWork.push('down.sql came out empty: write the SQL that undoes migration.sql by hand')
    if (/\b(TRIGGER|FUNCTION|CHECK|POLICY|VIEW)\b/i.test(up)) needsHandWork.push('migration.sql touches triggers/functions/checks/views, which Prisma does not diff: complete down.sql by hand')
    down = `-- Down migration for ${name}, generated from schema.prisma by prisma migrate diff.\n-- Prisma does not see triggers, functions or check constraints: add them by hand if migration.sql has any.\n${down}`
  }
  const dir = path.join(migrationsDir, name)
  const tmp = path.join(migrationsDir, `.${name}.tmp`)
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp)
  writeFileSync(path.join(tmp, 'migration.sql'), up)
  writeFileSync(path.join(tmp, 'down.sql'), down)
  // Appear whole or not at all: a half-written folder would be applied as is.
  renameSync(tmp, dir)
  logger.info(`Created: ${displayPath(dir)}`)
  return { name, dir, needsHandWork }
}
