// Serializes deploys, rollbacks and resets, ours and Prisma's: the same
// session-level advisory lock id Prisma's schema engine takes.
//
// A session-level lock needs a session. Through a transaction pooler
// (PgBouncer, Supavisor, hosted poolers) each statement may run on another
// server connection: the lock lands on a pooled connection that another client
// then holds, and the unlock may never reach it. Measured through PgBouncer
// 1.18 (docs/pooler.md): 5 concurrent `migrate` runs applied a migration twice
// and left it recorded as failed. A transaction-scoped lock would serialize
// each transaction but not the reading of the history before it, nor
// migrations that run outside a transaction; so instead of working around the
// pooler, these commands refuse it and name the direct URL.
import type pg from 'pg'
import { PRISMA_ADVISORY_LOCK_ID, pollAdvisoryLock } from '../db/advisory-lock.ts'
import { connect, type Connection } from './connection.ts'
import { MigrateError } from './errors.ts'
import { readMigrations, type LocalMigration } from './files.ts'
import type { Logger } from './logger.ts'
import { resolved, type CommonOptions } from './options.ts'

export { PRISMA_ADVISORY_LOCK_ID }

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

/**
 * Throws POOLED_CONNECTION unless `client` talks to its own server process. A pooler
 * answers the startup with its own cancel key (BackendKeyData), so the process id the
 * driver was given differs from pg_backend_pid(); a direct connection (or a plain TCP
 * proxy, port forwarding) passes the server's through unchanged.
 */
export async function assertDirectSession(client: pg.Client): Promise<void> {
  const announced = (client as pg.Client & { processID?: number | null }).processID
  const actual = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid
  if (announced === actual) return
  const c = client as pg.Client & { host?: string; port?: number }
  throw new MigrateError('POOLED_CONNECTION', `\`${c.host}:${c.port}\` is a connection pooler, not PostgreSQL itself: the migration lock (session-level advisory lock \`${PRISMA_ADVISORY_LOCK_ID}\`) cannot be held through it, so nothing was changed.`, {
    hint: 'Set DIRECT_DATABASE_URL to a direct connection to PostgreSQL for schema changes (keep DATABASE_URL on the pooler for the app), then run the command again',
  })
}

/** Runs `fn` holding the lock; waits (up to timeoutMs) for another holder; always releases. Refuses a pooled connection first. */
export async function withMigrationLock<T>(client: pg.Client, fn: () => Promise<T>, opts: { logger: Logger; timeoutMs?: number }): Promise<T> {
  await assertDirectSession(client)
  const got = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock($1) AS ok`, [PRISMA_ADVISORY_LOCK_ID])
  if (!got.rows[0]!.ok) {
    const holder = await migrationLockHolder(client)
    opts.logger.info(`Waiting: another migration is running${holder ? ` (pid ${holder.pid}${holder.applicationName ? `, ${holder.applicationName}` : ''})` : ''}`)
    const timeoutMs = opts.timeoutMs ?? 300_000
    if (!(await pollAdvisoryLock((sql, values) => client.query(sql, values), timeoutMs))) {
      throw new MigrateError('LOCK_TIMEOUT', `Another migration held the migration lock (advisory lock \`${PRISMA_ADVISORY_LOCK_ID}\`) for more than ${Math.round(timeoutMs / 1000)}s.`, {
        hint: 'Wait for it to finish, then run `npm run migrate:status`',
      })
    }
  }
  try {
    return await fn()
  } finally {
    // If the connection broke, the server released the lock with the session.
    await client.query(`SELECT pg_advisory_unlock($1)`, [PRISMA_ADVISORY_LOCK_ID]).catch(() => {})
  }
}

/**
 * What deploy, rollback and reset share: read the migrations folder, connect,
 * run `fn` holding the migration lock, and always close the connection.
 */
export async function underMigrationLock<T>(opts: CommonOptions, fn: (conn: Connection, local: LocalMigration[], logger: Logger) => Promise<T>): Promise<T> {
  const { migrationsDir, logger } = resolved(opts)
  const local = readMigrations(migrationsDir)
  const conn = await connect(opts.url)
  try {
    return await withMigrationLock(conn.client, () => fn(conn, local, logger), {
      logger,
      ...(opts.migrationLockWaitMs !== undefined ? { timeoutMs: opts.migrationLockWaitMs } : {}),
    })
  } finally {
    await conn.close()
  }
}
