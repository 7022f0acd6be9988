// One error type for the whole migration library: a stable code for programs,
// a message for people (values in backticks) and a hint that is the next
// command to run. The CLI maps codes to exit codes; the library never exits.

export type MigrateErrorCode =
  | 'BAD_ARGUMENT' // the caller asked for something impossible; nothing touched
  | 'MIGRATIONS_DIR' // migrations folder missing or unreadable
  | 'MIGRATION_FAILED' // a migration's SQL failed; it was rolled back and recorded as failed
  | 'ROLLBACK_FAILED' // a down.sql failed; that step was rolled back
  | 'FAILED_MIGRATION_RECORDED' // P3009: a failed migration blocks deploys
  | 'HISTORY_CONFLICT' // applied migrations missing locally, edited, or out of order
  | 'NO_DOWN' // a migration to undo has no usable down.sql
  | 'LOCK_TIMEOUT' // a table lock (or the migration lock) was not granted in time; nothing changed
  | 'STATEMENT_TIMEOUT' // a statement ran longer than allowed; rolled back
  | 'INVALID_MIGRATION' // a migration.sql/down.sql that cannot run safely (e.g. its own COMMIT); nothing run
  | 'TRANSACTION_ESCAPED' // a script ended our transaction: the database may be partly changed
  | 'DATA_LOSS_REFUSED' // would destroy data, not confirmed; nothing changed
  | 'POOLED_CONNECTION' // the URL goes through a connection pooler; schema changes need DIRECT_DATABASE_URL
  | 'READ_ONLY_SERVER' // the URL names a standby (in recovery); schema changes need the primary
  | 'UNREACHABLE' // ECONNREFUSED / ENOTFOUND / timeouts
  | 'AUTH_FAILED' // 28P01 / 28000
  | 'DATABASE_MISSING' // 3D000
  | 'PERMISSION' // 42501 when creating databases/schemas
  | 'CANCELLED' // the user answered no
  | 'PRISMA_CLI' // a Prisma CLI child process failed
  | 'SEED_FAILED'
  | 'VERIFY_FAILED'
  | 'INTERNAL'

export class MigrateError extends Error {
  readonly code: MigrateErrorCode
  readonly hint: string | undefined
  /** Extra lines the CLI prints under the message (SQL excerpts, lists). */
  readonly details: string[]

  constructor(code: MigrateErrorCode, message: string, opts: { hint?: string; cause?: unknown; details?: string[] } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'MigrateError'
    this.code = code
    this.hint = opts.hint
    this.details = opts.details ?? []
  }
}

export function isMigrateError(err: unknown): err is MigrateError {
  return err instanceof MigrateError
}
