// The one runner of migration scripts. Every migration.sql and down.sql —
// for migrate, rollback, reset, verify, the generated down's round trip and
// the engine stand-in behind `npx prisma migrate …` — is executed here, in
// one of two modes:
//   - 'transaction': the statements run one by one inside the caller's open
//     transaction (the caller commits or rolls back the unit of work);
//   - 'statements' (`-- watify:no-transaction` on the first line): each
//     statement commits on its own; a lock time-out retries that statement.
// The runner owns the session around a script: every script starts from the
// same settings (the session's own baseline: search_path, role, …, plus the
// command's lock and statement time-outs), whatever the previous script set,
// and the command's time-outs hold for every statement: a script that sets
// lock_timeout or statement_timeout itself is put back at once and told so.
// It returns what happened as a value (ScriptOutcome); callers turn a failed
// outcome into the error the CLI renders.
import type pg from 'pg'
import { MigrateError, type MigrateErrorCode } from './errors.ts'
import { BlockerWatch, DEFAULT_LOCK_ATTEMPTS, DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_STATEMENT_TIMEOUT_MS, describeBlocker, type Blocker, type TimeoutOptions } from './guard.ts'
import { silentLogger, type Logger } from './logger.ts'
import { classifyPgError, serverMessage, sqlstateOf, type ErrorKind } from './pg-errors.ts'
import { findTransactionControl, quoteIdent, runsOutsideTransaction, splitStatements, type Statement } from './sql.ts'

export type ScriptMode = 'transaction' | 'statements'

export interface PreparedScript {
  /** Path shown to people. */
  file: string
  sql: string
  mode: ScriptMode
  statements: Array<Statement & { line: number }>
}

/**
 * Validation before execution: the statements of `sql`, refusing a script that
 * controls the transaction itself, and a down.sql with no statement at all
 * (an empty rollback would record the migration undone while its objects stay).
 */
export function prepareScript(file: string, sql: string, kind: 'migration' | 'down' = 'migration'): PreparedScript {
  const found = findTransactionControl(sql)
  if (found.length) {
    throw new MigrateError('INVALID_MIGRATION', `\`${file}\` controls the transaction itself (line ${found[0]!.line}: \`${found[0]!.statement}\`); nothing was run.`, {
      hint: `Remove ${found.map((f) => `line ${f.line}`).join(', ')} from ${file}: every migration.sql and down.sql already runs in its own transaction`,
      details: found.map((f) => `    ${file}:${f.line}: ${f.statement}`),
    })
  }
  const statements = splitStatements(sql).map((s) => ({ ...s, line: sql.slice(0, s.start).split('\n').length }))
  if (kind === 'down' && statements.length === 0) {
    throw new MigrateError('NO_DOWN', `\`${file}\` has no statement (empty, or only comments): rolling back with it would record the migration undone while everything it created stays.`, {
      hint: `Write the SQL that undoes the migration in ${file} (or delete the file: the next rollback generates and checks one), then run \`npm run migrate:verify\``,
    })
  }
  return { file, sql, mode: runsOutsideTransaction(sql) ? 'statements' : 'transaction', statements }
}

export interface ScriptFailure {
  kind: ErrorKind | 'transaction-escaped' | 'invalid-index'
  sqlstate: string | undefined
  /** The server's message with its detail. */
  message: string
  /** The failing statement: 1-based index, 1-based line in the file, text. */
  statement: { index: number; line: number; text: string } | undefined
  /** Sessions seen in the way of a lock wait. */
  blockers: Blocker[]
  cause: unknown
}

export interface ScriptOutcome {
  file: string
  mode: ScriptMode
  total: number
  /** Statements that ran to the end; in 'statements' mode each of them is committed. */
  applied: number
  durationMs: number
  failure: ScriptFailure | undefined
}

export interface RunnerOptions extends TimeoutOptions {
  logger?: Logger
  /** A second connection, to name the session in the way of a lock wait. */
  openWatcher?: () => Promise<{ client: pg.Client; close(): Promise<void> }>
}

/** A failed outcome as an exception, so a unit of work unwinds (and may be retried). */
export class ScriptFailed extends Error {
  constructor(readonly outcome: ScriptOutcome & { failure: ScriptFailure }) {
    super(outcome.failure.message, { cause: outcome.failure.cause })
    this.name = 'ScriptFailed'
  }
}

const CONCURRENT_INDEX = /^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?("(?:[^"]|"")+"|[A-Za-z_][\w$]*)/i

function bareName(ident: string): string {
  return ident.startsWith('"') ? ident.slice(1, -1).replace(/""/g, '"') : ident.toLowerCase()
}

/**
 * One session's runner. `init()` records the session's settings (what its
 * connection set: search_path, application_name, …) as the baseline each
 * script starts from.
 */
export class ScriptRunner {
  readonly lockTimeoutMs: number
  readonly statementTimeoutMs: number
  readonly lockAttempts: number
  readonly logger: Logger
  private baseline: Array<{ name: string; setting: string }> | undefined
  private expected: { lock: string; stmt: string } | undefined
  private watch: BlockerWatch | undefined
  private watcher: { close(): Promise<void> } | undefined

  constructor(
    readonly client: pg.Client,
    readonly opts: RunnerOptions = {},
  ) {
    this.lockTimeoutMs = clampMs(opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS)
    this.statementTimeoutMs = clampMs(opts.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS)
    this.lockAttempts = Math.max(1, Math.floor(opts.lockAttempts ?? DEFAULT_LOCK_ATTEMPTS))
    this.logger = opts.logger ?? silentLogger
  }

  /** Reads the baseline (once) and puts the session in it. Call outside a failed transaction. */
  async restore(): Promise<void> {
    if (!this.baseline) {
      // Values this session SET itself (source 'session'); startup options and defaults come back with RESET ALL.
      const r = await this.client.query<{ name: string; setting: string }>(
        `SELECT name, current_setting(name) AS setting FROM pg_settings WHERE source = 'session' AND name NOT IN ('lock_timeout', 'statement_timeout')`,
      )
      this.baseline = r.rows
    }
    // RESET ALL leaves the role alone; a script's SET ROLE must not outlive it.
    await this.client.query('RESET ROLE')
    await this.client.query('RESET ALL')
    for (const s of this.baseline) await this.client.query('SELECT set_config($1, $2, false)', [s.name, s.setting])
    await this.client.query(`SET lock_timeout = ${this.lockTimeoutMs}`)
    await this.client.query(`SET statement_timeout = ${this.statementTimeoutMs}`)
    if (!this.expected) {
      const r = await this.client.query<{ lock: string; stmt: string }>(`SELECT current_setting('lock_timeout') AS lock, current_setting('statement_timeout') AS stmt`)
      this.expected = r.rows[0]!
    }
  }

  /** Starts naming the sessions that block this one (no-op without openWatcher). */
  async startWatch(): Promise<void> {
    if (this.watch || !this.opts.openWatcher) return
    const pid = (await this.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid
    const w = await this.opts.openWatcher().catch(() => undefined)
    if (!w) return
    this.watcher = w
    this.watch = new BlockerWatch(w.client, pid)
    this.watch.start()
  }

  async stopWatch(): Promise<void> {
    this.watch?.stop()
    this.watch = undefined
    await this.watcher?.close()
    this.watcher = undefined
  }

  private blockers(): Blocker[] {
    const b = this.watch?.last ?? []
    if (this.watch) this.watch.last = []
    return b
  }

  /**
   * Runs `script` from the baseline. 'transaction' scripts need the caller's
   * open transaction; 'statements' scripts must run outside one. Returns the
   * outcome; never throws for an error the script raised.
   */
  async run(script: PreparedScript): Promise<ScriptOutcome> {
    const t0 = performance.now()
    const total = script.statements.length
    const done = (applied: number, failure?: ScriptFailure): ScriptOutcome => ({ file: script.file, mode: script.mode, total, applied, durationMs: Math.round(performance.now() - t0), failure })
    try {
      await this.restore()
    } catch (err) {
      return done(0, this.failure(err, undefined, 0))
    }
    const xid = script.mode === 'transaction' ? (await this.client.query<{ x: string }>('SELECT txid_current()::text AS x')).rows[0]!.x : undefined
    for (const [i, st] of script.statements.entries()) {
      const where = { index: i + 1, line: st.line, text: st.text }
      const index = script.mode === 'statements' ? CONCURRENT_INDEX.exec(st.text)?.[1] : undefined
      for (let attempt = 1; ; attempt++) {
        const s0 = performance.now()
        try {
          if (index) await this.dropInvalidIndex(bareName(index))
          await this.client.query(st.text)
          break
        } catch (err) {
          const failure = this.failure(err, where, performance.now() - s0)
          // Inside a transaction the caller's unit is retried whole; alone, this statement is.
          if (failure.kind === 'lock-timeout' && script.mode === 'statements' && attempt < this.lockAttempts) {
            this.logger.info(`Waiting: statement ${i + 1} of \`${script.file}\` did not get its lock within ${this.lockTimeoutMs / 1000}s (attempt ${attempt} of ${this.lockAttempts}); retrying`)
            for (const b of failure.blockers) this.logger.info(`  in the way: ${describeBlocker(b)}`)
            await new Promise((r) => setTimeout(r, 500 * attempt))
            continue
          }
          return done(i, failure)
        }
      }
      if (index && !(await this.indexIsValid(bareName(index)))) {
        return done(i + 1, { kind: 'invalid-index', sqlstate: undefined, message: `index \`${bareName(index)}\` exists but is INVALID (a concurrent build that failed earlier left it, and IF NOT EXISTS kept it)`, statement: where, blockers: [], cause: undefined })
      }
      await this.keepTimeouts(script, st.line)
    }
    if (xid !== undefined) {
      const after = (await this.client.query<{ x: string | null }>('SELECT txid_current_if_assigned()::text AS x')).rows[0]!.x
      if (after !== xid) return done(total, { kind: 'transaction-escaped', sqlstate: undefined, message: `\`${script.file}\` ended the transaction it runs in`, statement: undefined, blockers: [], cause: undefined })
    }
    await this.restore()
    return done(total)
  }

  /** Runs `script` and throws ScriptFailed when it failed. */
  async runOrThrow(script: PreparedScript): Promise<ScriptOutcome> {
    const outcome = await this.run(script)
    if (outcome.failure) throw new ScriptFailed(outcome as ScriptOutcome & { failure: ScriptFailure })
    return outcome
  }

  /** The command's time-outs hold for every statement: a script that changed them gets them back. */
  private async keepTimeouts(script: PreparedScript, line: number): Promise<void> {
    const r = await this.client.query<{ lock: string; stmt: string }>(`SELECT current_setting('lock_timeout') AS lock, current_setting('statement_timeout') AS stmt`)
    const now = r.rows[0]!
    if (now.lock === this.expected!.lock && now.stmt === this.expected!.stmt) return
    const changed = [now.lock !== this.expected!.lock ? `lock_timeout = ${now.lock}` : '', now.stmt !== this.expected!.stmt ? `statement_timeout = ${now.stmt}` : ''].filter(Boolean).join(', ')
    this.logger.info(`Ignored: \`${script.file}\` line ${line} sets ${changed}; the command's limits (lock ${this.expected!.lock}, statement ${this.expected!.stmt}) hold for every statement (--lock-timeout, --statement-timeout)`)
    await this.client.query(`SET lock_timeout = ${this.lockTimeoutMs}`)
    await this.client.query(`SET statement_timeout = ${this.statementTimeoutMs}`)
  }

  private failure(err: unknown, where: ScriptFailure['statement'], elapsedMs: number): ScriptFailure {
    const kind = classifyPgError(err, { elapsedMs, statementTimeoutMs: this.statementTimeoutMs })
    return { kind, sqlstate: sqlstateOf(err), message: serverMessage(err), statement: where, blockers: kind === 'lock-timeout' ? this.blockers() : [], cause: err }
  }

  private async indexIsValid(name: string): Promise<boolean> {
    const r = await this.client.query<{ ok: boolean }>(
      `SELECT bool_and(i.indisvalid) AS ok FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = $1 AND c.relnamespace = ANY (current_schemas(false)::regnamespace[])`,
      [name],
    )
    return r.rows[0]?.ok !== false
  }

  /** Drops `name` when it is an INVALID index: what a failed or cancelled concurrent build leaves. */
  private async dropInvalidIndex(name: string): Promise<void> {
    const r = await this.client.query<{ schema: string }>(
      `SELECT n.nspname AS schema FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relname = $1 AND NOT i.indisvalid AND n.nspname = ANY (current_schemas(false)) LIMIT 1`,
      [name],
    )
    if (!r.rowCount) return
    await this.client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${quoteIdent(r.rows[0]!.schema)}.${quoteIdent(name)}`)
    this.logger.info(`Dropped: invalid index ${name}, left by a concurrent build that failed; building it again`)
  }

  /**
   * A unit of work (one migration, one rollback plan, one reset): `attempt`
   * opens and ends its own transaction, rolling back on error. A lock
   * time-out rolls it back and retries it, up to lockAttempts, then fails
   * naming the session in the way.
   */
  async unit<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    await this.startWatch()
    try {
      for (let n = 1; ; n++) {
        try {
          return await attempt()
        } catch (err) {
          const failure = err instanceof ScriptFailed ? err.outcome.failure : isRawServerError(err) ? this.failure(err, undefined, 0) : undefined
          if (failure?.kind === 'statement-timeout') throw timeoutError(this, what, failure, 'It was rolled back; nothing changed.')
          if (failure?.kind !== 'lock-timeout') throw err
          if (n >= this.lockAttempts) throw timeoutError(this, what, failure, `It was rolled back each time; nothing changed.`)
          const pause = 500 * n
          this.logger.info(`Waiting: a table lock was not granted within ${this.lockTimeoutMs / 1000}s (attempt ${n} of ${this.lockAttempts}); rolled back, retrying in ${pause / 1000}s`)
          for (const b of failure.blockers) this.logger.info(`  in the way: ${describeBlocker(b)}`)
          await new Promise((r) => setTimeout(r, pause))
        }
      }
    } finally {
      await this.stopWatch()
    }
  }
}

function isRawServerError(err: unknown): boolean {
  return !(err instanceof MigrateError) && sqlstateOf(err) !== undefined
}

/** PostgreSQL accepts time-outs up to 2147483647 ms; the CLI refuses more before connecting. */
function clampMs(ms: number): number {
  return Math.min(2_147_483_647, Math.max(0, Math.ceil(ms)))
}

/** The error for a lock or statement time-out, with the limit that was really in force. */
export function timeoutError(runner: { lockTimeoutMs: number; statementTimeoutMs: number; lockAttempts: number }, what: string, failure: ScriptFailure, after: string): MigrateError {
  if (failure.kind === 'statement-timeout') {
    return new MigrateError('STATEMENT_TIMEOUT', `${what} was stopped: a statement ran longer than the statement timeout (${runner.statementTimeoutMs / 1000}s). ${after}`, {
      hint: 'If it really needs longer (a big table), run it when traffic is low with a larger `--statement-timeout=<seconds>`',
      cause: failure.cause,
      details: failure.statement ? [`Statement ${failure.statement.index} (line ${failure.statement.line}):`, ...excerpt(failure.statement.text)] : [],
    })
  }
  const times = runner.lockAttempts === 1 ? 'once' : `${runner.lockAttempts} times`
  return new MigrateError('LOCK_TIMEOUT', `${what} gave up: a table lock was not granted within ${runner.lockTimeoutMs / 1000}s, ${times}. ${after}`, {
    hint: 'Wait for (or end) the session in the way, then run the command again; `--lock-timeout=<seconds>` waits longer per attempt, but application queries queue behind the waiting lock for that long',
    details: failure.blockers.length ? ['In the way:', ...failure.blockers.map((b) => `    ${describeBlocker(b)}`)] : ['The session in the way had finished before it could be named.'],
    cause: failure.cause,
  })
}

/** Indented excerpt of a statement for error details (first lines only). */
export function excerpt(statement: string, maxLines = 8): string[] {
  const lines = statement.split('\n')
  const shown = lines.slice(0, maxLines).map((l) => `    ${l}`)
  if (lines.length > maxLines) shown.push(`    ... (${lines.length - maxLines} more lines)`)
  return shown
}

/** What stays applied after a failed outcome, in words. */
export function appliedText(o: ScriptOutcome, inTransaction: string): string {
  if (o.mode === 'transaction') return inTransaction
  if (o.applied === 0) return 'None of its statements was applied.'
  return `Statements 1 to ${o.applied} of ${o.total} were applied and stay: it runs outside a transaction.`
}

/**
 * A failed outcome as the error the CLI renders: `what` names the step, the
 * failing statement is quoted with its file and line, and `after` says what
 * the database holds now.
 */
export function scriptError(code: MigrateErrorCode, what: string, o: ScriptOutcome & { failure: ScriptFailure }, opts: { hint: string; after: string[] }): MigrateError {
  const f = o.failure
  const at = f.statement && o.mode === 'statements' ? ` at statement ${f.statement.index} of ${o.total}` : ''
  const details: string[] = f.statement ? [`Failing statement (${o.file}, line ${f.statement.line}):`, ...excerpt(f.statement.text)] : [`The server did not say which statement of \`${o.file}\` failed.`]
  return new MigrateError(code, `${what}${at}: ${f.message}`, { hint: opts.hint, cause: f.cause, details: [...details, ...opts.after] })
}

/**
 * Runs a migration.sql or down.sql on `client` the way the commands run it,
 * without the history table (verify, the generated down's round trip): in one
 * transaction, or statement by statement when it declares it. Throws
 * ScriptFailed on failure (the transaction rolled back).
 */
export async function runStandalone(client: pg.Client, file: string, sql: string, opts: RunnerOptions & { kind?: 'migration' | 'down' } = {}): Promise<ScriptOutcome> {
  const runner = new ScriptRunner(client, opts)
  const script = prepareScript(file, sql, opts.kind)
  if (script.mode === 'statements') return runner.runOrThrow(script)
  await client.query('BEGIN')
  try {
    const o = await runner.runOrThrow(script)
    await client.query('COMMIT')
    return o
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    await runner.restore().catch(() => {})
    throw err
  }
}

/** What went wrong, from an error runStandalone threw: the server's message and, when known, where. */
export function describeFailure(err: unknown): { message: string; statement?: string; line?: number } {
  if (err instanceof ScriptFailed) {
    const f = err.outcome.failure
    return { message: f.message, ...(f.statement ? { statement: f.statement.text, line: f.statement.line } : {}) }
  }
  return { message: serverMessage(err) }
}
