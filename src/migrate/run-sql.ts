// Running one migration script inside its own transaction, and describing a
// failure by migration name and failing statement.
import type pg from 'pg'
import { MigrateError, type MigrateErrorCode } from './errors.ts'
import { statementAtPosition } from './sql.ts'

export interface SqlFailure {
  message: string
  /** 1-based line in the file where the failing statement starts. */
  line?: number
  statement?: string
  pgCode?: string
}

/** True for errors the server raised while running SQL (not a broken connection). */
export function isServerError(err: unknown): boolean {
  const e = err as { code?: unknown; severity?: unknown }
  return typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.severity === 'string'
}

export function describeSqlError(err: unknown, sql: string): SqlFailure {
  const e = err as { message?: string; position?: string; code?: string; detail?: string; where?: string }
  const failure: SqlFailure = { message: e?.message ?? String(err) }
  if (e?.code) failure.pgCode = e.code
  if (e?.detail) failure.message += ` (${e.detail})`
  const pos = Number(e?.position)
  if (pos > 0) {
    const hit = statementAtPosition(sql, pos)
    if (hit) {
      failure.statement = hit.text
      failure.line = hit.line
    }
  }
  return failure
}

/** Indented excerpt of a statement for error details (first lines only). */
export function excerpt(statement: string, maxLines = 8): string[] {
  const lines = statement.split('\n')
  const shown = lines.slice(0, maxLines).map((l) => `    ${l}`)
  if (lines.length > maxLines) shown.push(`    ... (${lines.length - maxLines} more lines)`)
  return shown
}

export function sqlFailureError(
  code: MigrateErrorCode,
  what: string,
  file: string,
  failure: SqlFailure,
  opts: { hint?: string; cause: unknown; extra?: string[] },
): MigrateError {
  const details: string[] = []
  if (failure.statement) {
    details.push(`Failing statement (${file}, line ${failure.line}):`)
    details.push(...excerpt(failure.statement))
  } else {
    details.push(`The server did not say which statement of \`${file}\` failed.`)
  }
  details.push(...(opts.extra ?? []))
  return new MigrateError(code, `${what}: ${failure.message}`, { hint: opts.hint, cause: opts.cause, details })
}

/**
 * BEGIN; before(); <script as ONE simple query>; after(); COMMIT.
 * The script is sent without parameters so node-postgres uses the simple
 * query protocol, which accepts many statements and plpgsql bodies.
 * On error: ROLLBACK (the database is as before) and rethrow.
 */
export async function runInTransaction(client: pg.Client, script: string, hooks: { before?: () => Promise<void>; after?: () => Promise<void> } = {}): Promise<void> {
  await client.query('BEGIN')
  try {
    await hooks.before?.()
    await client.query(script)
    await hooks.after?.()
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  }
}
