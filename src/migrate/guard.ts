// Keeps schema changes from stalling the application: every unit of work
// (one migration, one rollback plan, one reset) runs with a bounded
// `lock_timeout` and `statement_timeout`. A lock request that times out gives
// up, so application queries queued behind it run again at once; the unit is
// rolled back (nothing changed) and retried a few times, then it fails naming
// the session in the way, which a second connection watches for meanwhile.
import type pg from 'pg'
import { MigrateError } from './errors.ts'
import type { Logger } from './logger.ts'

export interface TimeoutOptions {
  /** PostgreSQL `lock_timeout` for each table lock a statement waits for. Default 3000 ms. */
  lockTimeoutMs?: number
  /** Attempts before giving up on a lock (each after a rollback). Default 3. */
  lockAttempts?: number
  /** PostgreSQL `statement_timeout` for each statement. Default 300000 ms (5 min); 0 = none. */
  statementTimeoutMs?: number
}

export const DEFAULT_LOCK_TIMEOUT_MS = 3000
export const DEFAULT_LOCK_ATTEMPTS = 3
export const DEFAULT_STATEMENT_TIMEOUT_MS = 300_000

/** A session that held a lock this process waited for. */
export interface Blocker {
  pid: number
  applicationName: string
  state: string
  /** Seconds since its transaction (or, outside one, its query) started. */
  seconds: number
  /** First line of its current or last query. */
  query: string
  /** The table it was in the way on, when known. */
  relation: string | undefined
}

export function describeBlocker(b: Blocker): string {
  const app = b.applicationName ? `, application \`${b.applicationName}\`` : ''
  const on = b.relation ? ` on \`${b.relation}\`` : ''
  return `pid ${b.pid}${app}, ${b.state} for ${b.seconds.toFixed(1)}s${on}: ${b.query || '(no query text)'}`
}

const LOCK_NOT_AVAILABLE = '55P03'
const QUERY_CANCELED = '57014'

const isCode = (err: unknown, code: string): boolean => (err as { code?: unknown })?.code === code

/** Applies the timeouts to the session (they last until changed). */
export async function applyTimeouts(client: pg.Client, opts: TimeoutOptions): Promise<void> {
  const lock = Math.max(0, Math.floor(opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS))
  const stmt = Math.max(0, Math.floor(opts.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS))
  await client.query(`SET lock_timeout = ${lock}`)
  await client.query(`SET statement_timeout = ${stmt}`)
}

/**
 * Polls, from its own connection, which sessions block `pid`, remembering the
 * last ones seen: when a lock wait times out the wait is over, so this is the
 * only moment they can still be named.
 */
export class BlockerWatch {
  private timer: NodeJS.Timeout | undefined
  private busy = false
  last: Blocker[] = []

  constructor(
    private readonly watcher: pg.Client,
    private readonly pid: number,
    private readonly everyMs = 250,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.poll(), this.everyMs)
    this.timer.unref()
  }

  async poll(): Promise<void> {
    if (this.busy) return
    this.busy = true
    try {
      const r = await this.watcher.query<{ pid: number; app: string; state: string; secs: number; query: string; rel: string | null }>(
        `WITH waiting AS (
           SELECT l.relation FROM pg_locks l WHERE l.pid = $1 AND NOT l.granted AND l.relation IS NOT NULL LIMIT 1)
         SELECT a.pid, coalesce(a.application_name, '') AS app, coalesce(a.state, 'unknown') AS state,
                extract(epoch FROM clock_timestamp() - coalesce(a.xact_start, a.query_start, a.backend_start))::float8 AS secs,
                split_part(btrim(coalesce(a.query, ''), E' \\n\\t'), E'\\n', 1) AS query,
                (SELECT w.relation::regclass::text FROM waiting w) AS rel
           FROM pg_stat_activity a
          WHERE a.pid = ANY (pg_blocking_pids($1))
          ORDER BY a.xact_start NULLS LAST`,
        [this.pid],
      )
      if (r.rows.length) {
        this.last = r.rows.map((x) => ({ pid: x.pid, applicationName: x.app, state: x.state, seconds: x.secs, query: x.query.slice(0, 200), relation: x.rel ?? undefined }))
      }
    } catch {
      // The watcher is a diagnostic aid: if its connection fails the work goes on.
    } finally {
      this.busy = false
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
  }
}

/**
 * Runs `attempt` (which must BEGIN and end its own transaction, rolling back on
 * error) with the timeouts set; retries it when a lock was not granted in
 * time. `openWatcher` opens a second connection for naming blockers.
 */
export async function withLockRetries<T>(
  client: pg.Client,
  what: string,
  opts: TimeoutOptions & { logger: Logger; openWatcher: () => Promise<{ client: pg.Client; close(): Promise<void> }> },
  attempt: () => Promise<T>,
): Promise<T> {
  const attempts = Math.max(1, Math.floor(opts.lockAttempts ?? DEFAULT_LOCK_ATTEMPTS))
  const lockMs = opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS
  const stmtMs = opts.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS
  await applyTimeouts(client, opts)
  const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid
  const watcher = await opts.openWatcher().catch(() => undefined)
  const watch = watcher ? new BlockerWatch(watcher.client, pid) : undefined
  watch?.start()
  try {
    for (let n = 1; ; n++) {
      try {
        return await attempt()
      } catch (err) {
        if (isCode(err, QUERY_CANCELED) && /statement timeout/i.test((err as Error).message)) {
          throw new MigrateError('STATEMENT_TIMEOUT', `${what} was stopped: a statement ran longer than the statement timeout (${stmtMs / 1000}s). It was rolled back; nothing changed.`, {
            hint: 'If it really needs longer (a big table), run it when traffic is low with a larger `--statement-timeout=<seconds>`',
            cause: err,
          })
        }
        if (!isCode(err, LOCK_NOT_AVAILABLE)) throw err
        const blockers = watch?.last ?? []
        if (n >= attempts) {
          throw new MigrateError(
            'LOCK_TIMEOUT',
            `${what} gave up: a table lock was not granted within ${lockMs / 1000}s, ${attempts} time${attempts === 1 ? '' : 's'}. It was rolled back each time; nothing changed.`,
            {
              hint: 'Wait for (or end) the session in the way, then run the command again; `--lock-timeout=<seconds>` waits longer per attempt, but application queries queue behind the waiting lock for that long',
              details: blockers.length ? ['In the way:', ...blockers.map((b) => `    ${describeBlocker(b)}`)] : ['The session in the way had finished before it could be named.'],
              cause: err,
            },
          )
        }
        const pause = 500 * n
        opts.logger.info(`Waiting: a table lock was not granted within ${lockMs / 1000}s (attempt ${n} of ${attempts}); rolled back, retrying in ${pause / 1000}s`)
        for (const b of blockers) opts.logger.info(`  in the way: ${describeBlocker(b)}`)
        await new Promise((r) => setTimeout(r, pause))
        // Name the blocker of the next attempt from a fresh poll.
        if (watch) watch.last = []
      }
    }
  } finally {
    watch?.stop()
    await watcher?.close()
  }
}
