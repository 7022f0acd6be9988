// `migrate:status`: read-only; never creates the history table.
import { connect } from './connection.ts'
import { readMigrations } from './files.ts'
import { readHistory } from './history.ts'
import { migrationLockHolder, type LockHolder } from './lock.ts'
import { resolved, type CommonOptions } from './options.ts'
import { computeStatus, type HistoryStatus } from './state.ts'

export interface StatusReport extends HistoryStatus {
  migrationsDir: string
  /** Another session holding the migration lock right now (a deploy or rollback in progress). */
  lockHolder: LockHolder | undefined
  /** INVALID indexes in the schema: what a failed `CREATE INDEX CONCURRENTLY` leaves behind (they slow writes and serve no query). */
  invalidIndexes: string[]
}

export async function status(opts: CommonOptions): Promise<StatusReport> {
  const { migrationsDir } = resolved(opts)
  const local = readMigrations(migrationsDir)
  const conn = await connect(opts.url)
  try {
    const rows = await readHistory(conn.client, conn.target.schema)
    const lockHolder = await migrationLockHolder(conn.client)
    const invalid = await conn.client.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND NOT i.indisvalid ORDER BY 1`,
      [conn.target.schema],
    )
    const invalidIndexes = invalid.rows.map((r) => r.name)
    const s = computeStatus(local, rows)
    return { ...s, migrationsDir, lockHolder, invalidIndexes, needsAttention: s.needsAttention || invalidIndexes.length > 0, upToDate: s.upToDate && invalidIndexes.length === 0 }
  } finally {
    await conn.close()
  }
}
