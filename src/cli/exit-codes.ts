// The one table of the CLI's exit codes: name, number, meaning, and which
// library error codes end in it. main.ts maps errors through it, every
// command's `--help` and the main help are rendered from it, and a test checks
// docs/cli.md's list against it (test/cli-exit-codes.test.ts).
import type { MigrateErrorCode } from '../migrate/errors.ts'

export interface ExitCode {
  name: ExitName
  code: number
  meaning: string
  /** Library errors (MigrateError.code) that end the command with this code. */
  errors: readonly MigrateErrorCode[]
}

export type ExitName = 'OK' | 'FAILED' | 'BAD_INPUT' | 'HISTORY' | 'UNREACHABLE' | 'AUTH_FAILED' | 'DATABASE_MISSING' | 'DATA_LOSS_REFUSED' | 'TIMEOUT'

export const EXIT_CODES: readonly ExitCode[] = [
  { name: 'OK', code: 0, meaning: 'success', errors: [] },
  { name: 'FAILED', code: 1, meaning: 'failure (migrate:status: migrations pending)', errors: [] },
  {
    name: 'BAD_INPUT',
    code: 2,
    meaning: 'bad arguments, the migrations folder, or a URL schema changes cannot use (a pooler, a standby); nothing was touched',
    errors: ['BAD_ARGUMENT', 'MIGRATIONS_DIR', 'POOLED_CONNECTION', 'READ_ONLY_SERVER'],
  },
  {
    name: 'HISTORY',
    code: 3,
    meaning: 'migration history needs attention (failed, edited, missing locally, out of order, a folder without migration.sql, own COMMIT/ROLLBACK)',
    errors: ['FAILED_MIGRATION_RECORDED', 'HISTORY_CONFLICT', 'INVALID_MIGRATION'],
  },
  { name: 'UNREACHABLE', code: 4, meaning: 'database server unreachable (refused, unknown host, timeout, TLS refused)', errors: ['UNREACHABLE'] },
  { name: 'AUTH_FAILED', code: 5, meaning: 'authentication failed (wrong or missing password)', errors: ['AUTH_FAILED'] },
  { name: 'DATABASE_MISSING', code: 6, meaning: 'database does not exist', errors: ['DATABASE_MISSING'] },
  { name: 'DATA_LOSS_REFUSED', code: 7, meaning: 'refused: it would destroy data and nobody confirmed (no terminal, no --accept-data-loss / --force); nothing changed', errors: ['DATA_LOSS_REFUSED'] },
  { name: 'TIMEOUT', code: 8, meaning: 'a lock was not granted in time, or a statement ran too long; rolled back, nothing changed', errors: ['LOCK_TIMEOUT', 'STATEMENT_TIMEOUT'] },
]

export function exitCode(name: ExitName): number {
  return EXIT_CODES.find((e) => e.name === name)!.code
}

/** The exit code a library error ends the command with (FAILED for codes the table does not list). */
export function exitCodeOf(error: MigrateErrorCode): number {
  return EXIT_CODES.find((e) => e.errors.includes(error))?.code ?? exitCode('FAILED')
}

/** What a command says about its own outcomes: the table's meaning unless the command words it for itself. */
export type CommandExitCodes = ReadonlyArray<ExitName | [ExitName, string]>

/** `N  meaning` lines: the command's own, then the codes every connecting command can end with. */
export function exitCodeLines(own?: CommandExitCodes): string[] {
  const rows = (own ?? EXIT_CODES.map((e) => e.name)).map((entry) => {
    const [name, note] = typeof entry === 'string' ? [entry, undefined] : entry
    const e = EXIT_CODES.find((x) => x.name === name)!
    return { code: e.code, text: note ?? e.meaning }
  })
  const listed = new Set(rows.map((r) => r.code))
  const rest = own ? EXIT_CODES.filter((e) => !listed.has(e.code) && ['BAD_INPUT', 'UNREACHABLE', 'AUTH_FAILED', 'DATABASE_MISSING'].includes(e.name)) : []
  return [...rows.sort((a, b) => a.code - b.code).map((r) => `${r.code}  ${r.text}`), ...(rest.length ? [`${rest.map((e) => e.code).join(', ')}  as for every command (\`node bin/watify.mjs --help\`)`] : [])]
}
