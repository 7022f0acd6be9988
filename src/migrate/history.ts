// The ONLY module that reads or writes `_prisma_migrations`. The table and
// its rows are exactly Prisma's, so `npx prisma migrate status` and our
// commands always agree about what is applied.
import { randomUUID } from 'node:crypto'
import type pg from 'pg'
import { quoteIdent } from './sql.ts'

export const HISTORY_TABLE = '_prisma_migrations'

export interface HistoryRow {
  id: string
  checksum: string
  finishedAt: Date | null
  migrationName: string
  logs: string | null
  rolledBackAt: Date | null
  startedAt: Date
  appliedStepsCount: number
  /** What a failed run of ours left behind, recorded with it (undefined for rows Prisma's engine wrote). */
  outcome: RecordedOutcome | undefined
}

/**
 * A failed migration's outcome, kept as a JSON line at the end of `logs`
 * (Prisma's table has no other column for it; Prisma shows logs as text).
 * 'transaction': it was rolled back, nothing stays; 'statements': the first
 * `applied` of `total` statements were committed and stay.
 */
export interface RecordedOutcome {
  mode: 'transaction' | 'statements'
  applied: number
  total: number
  failedAt: number | undefined
  sqlstate: string | undefined
}

const OUTCOME_PREFIX = 'watify-outcome: '

function parseOutcome(logs: string | null): RecordedOutcome | undefined {
  const line = logs?.split('\n').reverse().find((l) => l.startsWith(OUTCOME_PREFIX))
  if (!line) return undefined
  try {
    const o = JSON.parse(line.slice(OUTCOME_PREFIX.length)) as RecordedOutcome
    return o.mode === 'transaction' || o.mode === 'statements' ? o : undefined
  } catch {
    return undefined
  }
}

/** `text` followed by the outcome line that readHistory gives back as `outcome`. */
export function logsWithOutcome(text: string, outcome: RecordedOutcome): string {
  return `${text}\n${OUTCOME_PREFIX}${JSON.stringify(outcome)}`
}

/** Prisma's states: applied = finished and not rolled back; failed = not finished and not rolled back. */
export function rowState(row: HistoryRow): 'applied' | 'failed' | 'rolled_back' {
  if (row.rolledBackAt) return 'rolled_back'
  return row.finishedAt ? 'applied' : 'failed'
}

const table = (schema: string): string => `${quoteIdent(schema)}.${quoteIdent(HISTORY_TABLE)}`

export async function historyTableExists(client: pg.Client, schema: string): Promise<boolean> {
  const r = await client.query<{ ok: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS ok`, [table(schema)])
  return r.rows[0]!.ok
}

/** Creates the schema and Prisma's table if missing (Prisma's DDL, column for column). */
export async function ensureHistoryTable(client: pg.Client, schema: string): Promise<void> {
  if (await historyTableExists(client, schema)) return
  // CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists.
  const exists = await client.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [schema])
  if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${quoteIdent(schema)}`)
  await client.query(`CREATE TABLE IF NOT EXISTS ${table(schema)} (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`)
}

/** All rows, oldest first; [] when the table does not exist yet. */
export async function readHistory(client: pg.Client, schema: string): Promise<HistoryRow[]> {
  if (!(await historyTableExists(client, schema))) return []
  const r = await client.query(
    `SELECT id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count
       FROM ${table(schema)} ORDER BY started_at, migration_name, id`,
  )
  return r.rows.map((x) => ({
    id: x.id,
    checksum: x.checksum,
    finishedAt: x.finished_at,
    migrationName: x.migration_name,
    logs: x.logs,
    rolledBackAt: x.rolled_back_at,
    startedAt: x.started_at,
    appliedStepsCount: x.applied_steps_count,
    outcome: parseOutcome(x.logs),
  }))
}

/** Inserts the row Prisma inserts before running a migration; returns its id. Call inside the migration's transaction. */
export async function recordStarted(client: pg.Client, schema: string, m: { name: string; checksum: string }): Promise<string> {
  const id = randomUUID()
  await client.query(
    `INSERT INTO ${table(schema)} (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, clock_timestamp(), 0)`,
    [id, m.checksum, m.name],
  )
  return id
}

export async function recordFinished(client: pg.Client, schema: string, id: string): Promise<void> {
  await client.query(`UPDATE ${table(schema)} SET finished_at = clock_timestamp(), applied_steps_count = 1 WHERE id = $1`, [id])
}

/**
 * Records a failed migration the way Prisma leaves one (no finished_at, logs
 * set), AFTER its transaction was rolled back, so `prisma migrate status`
 * reports it as failed and deploys stop (P3009) until it is resolved.
 */
export async function recordFailed(client: pg.Client, schema: string, m: { name: string; checksum: string; logs: string; startedAt: Date }): Promise<void> {
  await client.query(
    `INSERT INTO ${table(schema)} (id, checksum, migration_name, logs, started_at, applied_steps_count) VALUES ($1, $2, $3, $4, $5, 0)`,
    [randomUUID(), m.checksum, m.name, m.logs, m.startedAt],
  )
}

/** Sets the logs of a failed row (outside-a-transaction migrations). */
export async function recordLogs(client: pg.Client, schema: string, id: string, logs: string): Promise<void> {
  await client.query(`UPDATE ${table(schema)} SET logs = $2 WHERE id = $1`, [id, logs])
}

/**
 * Marks an applied row rolled back, as `prisma migrate resolve --rolled-back`
 * does: the row stays, so status can say when, and Prisma's own status agrees
 * that the migration is no longer applied. Call inside the rollback's
 * transaction. Returns rows changed.
 */
export async function markRolledBack(client: pg.Client, schema: string, id: string): Promise<number> {
  const r = await client.query(`UPDATE ${table(schema)} SET rolled_back_at = clock_timestamp() WHERE id = $1 AND rolled_back_at IS NULL`, [id])
  return r.rowCount ?? 0
}
