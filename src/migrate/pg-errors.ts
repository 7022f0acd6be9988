// The one place that says what a PostgreSQL error means to the migration
// commands. By SQLSTATE and the server's own fields (routine), never by the
// message text, which follows the server's `lc_messages` language.

export type ErrorKind =
  /** lock_timeout expired while waiting for a lock: worth retrying. */
  | 'lock-timeout'
  /** statement_timeout expired. */
  | 'statement-timeout'
  /** Cancelled by someone else (pg_cancel_backend, Ctrl-C of another client). */
  | 'cancelled'
  /** Any other error the server raised while running SQL (NOWAIT included). */
  | 'sql'
  /** No server answer: the connection broke or never worked. */
  | 'connection'

export interface PgErrorFields {
  code?: string
  severity?: string
  message?: string
  detail?: string
  hint?: string
  position?: string
  routine?: string
}

export const SQLSTATE = {
  LOCK_NOT_AVAILABLE: '55P03',
  QUERY_CANCELED: '57014',
  UNIQUE_VIOLATION: '23505',
  INSUFFICIENT_PRIVILEGE: '42501',
  INVALID_PASSWORD: '28P01',
  INVALID_AUTHORIZATION: '28000',
  INVALID_CATALOG_NAME: '3D000',
} as const

/** True for errors the server raised while running SQL (not a broken connection). */
export function isServerError(err: unknown): boolean {
  const e = err as PgErrorFields
  return typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.severity === 'string'
}

export function sqlstateOf(err: unknown): string | undefined {
  return isServerError(err) ? (err as PgErrorFields).code : undefined
}

/**
 * What kind of failure `err` is. `elapsedMs` is how long the failing statement
 * ran and `statementTimeoutMs` the limit in force: a query cancel (57014) that
 * came at the limit is the timeout, one before it came from someone else.
 * A lock timeout and NOWAIT share 55P03; only the timeout is raised by the
 * interrupt handler (`ProcessInterrupts`), NOWAIT by the lock manager.
 */
export function classifyPgError(err: unknown, ctx: { elapsedMs?: number; statementTimeoutMs?: number } = {}): ErrorKind {
  if (!isServerError(err)) return 'connection'
  const e = err as PgErrorFields
  if (e.code === SQLSTATE.LOCK_NOT_AVAILABLE) return e.routine === 'ProcessInterrupts' ? 'lock-timeout' : 'sql'
  if (e.code === SQLSTATE.QUERY_CANCELED) {
    const limit = ctx.statementTimeoutMs ?? 0
    if (limit > 0 && (ctx.elapsedMs === undefined || ctx.elapsedMs >= limit - 5)) return 'statement-timeout'
    return 'cancelled'
  }
  return 'sql'
}

/** The server's message with its detail, as one line for people. */
export function serverMessage(err: unknown): string {
  const e = err as PgErrorFields
  const msg = e?.message ?? String(err)
  return e?.detail ? `${msg} (${e.detail})` : msg
}
