// The migration lock: the session-level advisory lock Prisma's schema engine
// takes (and our commands take too, so the two never interleave).
//
// It is polled with pg_try_advisory_lock, never waited for in one
// pg_advisory_lock call: a session blocked in that call holds a snapshot for
// the whole wait, and the holder's CREATE INDEX CONCURRENTLY waits for every
// older snapshot to go, so the two would deadlock. Each try is a statement of
// its own that ends at once.

export const PRISMA_ADVISORY_LOCK_ID = 72707369

/** The statement Prisma's schema engine sends to take the lock (it waits in it). */
export const PRISMA_ADVISORY_LOCK_SQL = `SELECT pg_advisory_lock(${PRISMA_ADVISORY_LOCK_ID})`

type Query = (sql: string, values?: unknown[]) => Promise<{ rows: Array<Record<string, unknown>> }>

/** Tries to take the lock on this session until it succeeds (true) or `timeoutMs` passes (false). */
export async function pollAdvisoryLock(query: Query, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  for (let attempt = 0; ; attempt++) {
    if ((await query('SELECT pg_try_advisory_lock($1) AS ok', [PRISMA_ADVISORY_LOCK_ID])).rows[0]!.ok === true) return true
    if (performance.now() > deadline) return false
    await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** Math.min(attempt, 3)) + Math.random() * 100))
  }
}
