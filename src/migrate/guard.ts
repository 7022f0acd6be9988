// Keeps schema changes from stalling the application: every statement the
// runner (runner.ts) sends runs with a bounded `lock_timeout` and
// `statement_timeout`. A lock request that times out gives up, so application
// queries queued behind it run again at once; the unit is rolled back
// (nothing changed) and retried a few times, then it fails naming the session
// in the way, which a second connection (BlockerWatch) watches for meanwhile.
import type pg from 'pg'

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
