// Serializes deploys, rollbacks and resets, ours and Prisma's: the same
// session-level advisory lock id Prisma's schema engine takes.
import type pg from 'pg'
import { MigrateError } from './errors.ts'
import type { Logger } from './logger.ts'

export const PRISMA_ADVISORY_LOCK_ID = 72707369

export interface LockHolder {
  pid: number
  since: Date | null
  state: string | null
  applicationName: string | null
}

/** Another session holding the migration lock in this database, if any. */
export async function migrationLockHolder(client: pg.Client): Promise<LockHolder | undefined> {
  // A bigint key k is stored as classid = k >> 32, objid = k & 0xffffffff, objsubid = 1.
  const r = await client.query(
    `SELECT l.pid, a.xact_start, a.state, a.application_name
       FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = $1 AND l.objsubid = 1
        AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.pid <> pg_backend_pid()`,
    [PRISMA_ADVISORY_LOCK_ID],
  )
  const row = r.rows[0]
  return row ? { pid: row.pid, since: row.xact_start, state: row.state, applicationName: row.application_name } : undefined
}

/** Runs `fn` holding the lock; waits (up to timeoutMs) for another holder; always releases. */
export async function withMigrationLock<T>(client: pg.Client, fn: () => Promise<T>, opts: { logger: Logger; timeoutMs?: number }): Promise<T> {
  const got = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock($1) AS ok`, [PRISMA_ADVISORY_LOCK_ID])
  if (!got.rows[0]!.ok) {
    const holder = await migrationLockHolder(client)
    opts.logger.info(`Waiting: another migration is running${holder ? ` (pid ${holder.pid}${holder.applicationName ? `, ${holder.applicationName}` : ''})` : ''}`)
    const timeoutMs = opts.timeoutMs ?? 300_000
    try {
      await client.query(`SET lock_timeout = ${Math.max(1, Math.floor(timeoutMs))}`)
      await client.query(`SELECT pg_advisory_lock($1)`, [PRISMA_ADVISORY_LOCK_ID])
    } catch (err) {
      if ((err as { code?: string }).code === '55P03') {
        throw new MigrateError('LOCK_TIMEOUT', `Another migration held the migration lock (advisory lock \`${PRISMA_ADVISORY_LOCK_ID}\`) for more than ${Math.round(timeoutMs / 1000)}s.`, {
          hint: 'Wait for it to finish, then run `npm run migrate:status`',
          cause: err,
        })
      }
      throw err
    } finally {
      await client.query(`RESET lock_timeout`).catch(() => {})
    }
  }
  try {
    return await fn()
  } finally {
    // If the connection broke, the server released the lock with the session.
    await client.query(`SELECT pg_advisory_unlock($1)`, [PRISMA_ADVISORY_LOCK_ID]).catch(() => {})
  }
}
