// The shape every command module exports; main.ts only registers these.
import path from 'node:path'
import { resolveDatabaseUrl, type ResolvedUrl } from '../db/config.ts'
import { parseDatabaseUrl } from '../db/url.ts'
import type { OptionSpec, Parsed, Values } from './args.ts'
import type { CommandExitCodes } from './exit-codes.ts'
import type { Output } from './output.ts'

export interface CommandContext {
  values: Values
  fromNpm: Parsed['fromNpm']
  out: Output
  env: NodeJS.ProcessEnv
  /** Resolves DIRECT_DATABASE_URL, else DATABASE_URL (or starts the embedded server) once, and registers its password for masking. Every command here changes or inspects the schema, so it goes around a pooler. */
  database(): Promise<ResolvedUrl>
  /** --migrations-dir, else MIGRATIONS_DIR, else undefined (library default: prisma/migrations). */
  migrationsDir: string | undefined
}

export interface Command {
  name: string
  /** npm scripts that run it, for reading flags npm swallowed (see args.ts). */
  scriptNames: string[]
  /** Changes the database: npm values plainly meant for it but not its options are refused (args.ts). */
  guardsNpm?: boolean
  summary: string
  options: OptionSpec[]
  examples: string[]
  /** Outcomes in this command's words; numbers and names from the one table (exit-codes.ts). */
  exitCodes?: CommandExitCodes
  run(ctx: CommandContext): Promise<number>
}

export const MIGRATIONS_DIR_OPTION: OptionSpec = {
  name: 'migrations-dir',
  type: 'string',
  valueName: '<path>',
  description: 'Migrations folder (default prisma/migrations; env MIGRATIONS_DIR)',
}

export function makeContext(parsed: Parsed, out: Output, env: NodeJS.ProcessEnv): CommandContext {
  let resolved: Promise<ResolvedUrl> | undefined
  const dir = (parsed.values['migrations-dir'] as string | undefined) ?? env.MIGRATIONS_DIR
  return {
    values: parsed.values,
    fromNpm: parsed.fromNpm,
    out,
    env,
    migrationsDir: dir ? path.resolve(dir) : undefined,
    database: () =>
      (resolved ??= resolveDatabaseUrl({ log: (line) => out.err(line), purpose: 'schema' }).then((r) => {
        // Refuses (DatabaseUrlError, exit 2) a URL that reads more than one way, before anything shows it.
        out.addSecret(parseDatabaseUrl(r.url).password)
        return r
      })),
  }
}

export function libOptions(ctx: CommandContext, url: string): { url: string; logger: Output['logger']; migrationsDir?: string } {
  return { url, logger: ctx.out.logger, ...(ctx.migrationsDir ? { migrationsDir: ctx.migrationsDir } : {}) }
}
