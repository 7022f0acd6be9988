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
}

export async function status(opts: CommonOptions): Promise<StatusReport> {
  const { migrationsDir } = resolved(opts)
  const local = readMigrations(migrationsDir)
  const conn = await connect(opts.url)
  try {
    const rows = await readHistory(conn.client, conn.target.schema)
    const lockHolder = await migrationLockHolder(conn.client)
    return { ...computeStatus(local, rows), migrationsDir, lockHolder }
  } finally {
    await conn.close()
  }
}
