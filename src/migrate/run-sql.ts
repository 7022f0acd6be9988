// Running one migration script inside its own transaction, and describing a
// failure by migration name and failing statement.
import type pg from 'pg'
import { MigrateError, type MigrateErrorCode } from './errors.ts'
import { findTransactionControl, runsOutsideTransaction, splitStatements, statementAtPosition } from './sql.ts'

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
 * Refuses a script holding its own transaction control, before anything runs:
 * each script already runs inside a transaction of ours, and a COMMIT or
 * ROLLBACK in it would make every report afterwards untrue.
 */
export function assertNoTransactionControl(file: string, sql: string): void {
  const found = findTransactionControl(sql)
  if (!found.length) return
  throw new MigrateError('INVALID_MIGRATION', `\`${file}\` controls the transaction itself (line ${found[0]!.line}: \`${found[0]!.statement}\`); nothing was run.`, {
    hint: `Remove ${found.map((f) => `line ${f.line}`).join(', ')} from ${file}: every migration.sql and down.sql already runs in its own transaction`,
    details: found.map((f) => `    ${file}:${f.line}: ${f.statement}`),
  })
}

/**
 * Runs `script` as ONE simple query (many statements, plpgsql bodies intact)
 * inside the caller's open transaction, and checks that the transaction is
 * still the same one afterwards: a script that ended it (COMMIT, ROLLBACK,
 * a procedure that commits) is an error that says so, never a success.
 */
export async function runScript(client: pg.Client, script: string, file: string): Promise<void> {
  const before = (await client.query<{ x: string }>('SELECT txid_current()::text AS x')).rows[0]!.x
  await client.query(script)
  const after = (await client.query<{ x: string | null }>('SELECT txid_current_if_assigned()::text AS x')).rows[0]!.x
  if (after !== before) {
    throw new MigrateError('TRANSACTION_ESCAPED', `\`${file}\` ended the transaction it runs in: whatever it ran before that point may have been committed, and the rest ran outside any transaction.`, {
      hint: 'Compare the database with the migration by hand (`npm run migrate:status`, psql), and remove COMMIT/ROLLBACK/CALL of committing procedures from the file',
    })
  }
}

/**
 * BEGIN; before(); script; after(); COMMIT. On error: ROLLBACK (the database
 * is as before) and rethrow.
 */
export async function runInTransaction(client: pg.Client, script: string, file: string, hooks: { before?: () => Promise<void>; after?: () => Promise<void> } = {}): Promise<void> {
  await client.query('BEGIN')
  try {
    await hooks.before?.()
    await runScript(client, script, file)
    await hooks.after?.()
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  }
}

/**
 * Runs a migration.sql or down.sql the way `npm run migrate` runs it, without
 * the history table (verify, the generated down's round trip): in one
 * transaction, or, when it declares the no-transaction line, one statement at
 * a time, each committed. A failing statement's error position is made a
 * position in the whole script, so describeSqlError names it.
 */
export async function runMigrationScript(client: pg.Client, script: string, file: string): Promise<void> {
  if (!runsOutsideTransaction(script)) return runInTransaction(client, script, file)
  for (const st of splitStatements(script)) {
    try {
      await client.query(st.text)
    } catch (err) {
      const e = err as { position?: string }
      const before = [...script.slice(0, st.start)].length
      e.position = String(before + (Number(e.position) > 0 ? Number(e.position) : 1))
      throw err
    }
  }
}
