// `db:test`: can we connect, to what, how fast, and is the schema up to date.
import { connect } from './connection.ts'
import { readMigrations } from './files.ts'
import { readHistory } from './history.ts'
import { resolved, type CommonOptions } from './options.ts'
import { computeStatus, type HistoryStatus } from './state.ts'

export interface ConnectionCheck {
  serverVersion: string
  database: string
  user: string
  schema: string
  /** Median of 5 `SELECT 1` round trips after connecting. */
  latencyMs: number
  connectMs: number
  /** Undefined when the migrations folder cannot be read. */
  migrations: HistoryStatus | undefined
  migrationsError: string | undefined
}

export async function checkConnection(opts: CommonOptions): Promise<ConnectionCheck> {
  const { migrationsDir } = resolved(opts)
  const t0 = performance.now()
  const conn = await connect(opts.url, { connectTimeoutMs: 5000, allowStandby: true })
  const connectMs = performance.now() - t0
  try {
    const info = (await conn.client.query<{ v: string; d: string; u: string }>(`SELECT current_setting('server_version') AS v, current_database() AS d, current_user AS u`)).rows[0]!
    const samples: number[] = []
    for (let i = 0; i < 5; i++) {
      const s = performance.now()
      await conn.client.query('SELECT 1')
      samples.push(performance.now() - s)
    }
    samples.sort((a, b) => a - b)
    let migrations: HistoryStatus | undefined
    let migrationsError: string | undefined
    try {
      migrations = computeStatus(readMigrations(migrationsDir), await readHistory(conn.client, conn.target.schema))
    } catch (err) {
      migrationsError = (err as Error).message
    }
    return {
      serverVersion: info.v,
      database: info.d,
      user: info.u,
      schema: conn.target.schema,
      latencyMs: Math.round(samples[2]! * 100) / 100,
      connectMs: Math.round(connectMs),
      migrations,
      migrationsError,
    }
  } finally {
    await conn.close()
  }
}
