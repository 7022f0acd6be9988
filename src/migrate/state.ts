// Where every migration stands: the local folder joined with the history rows,
// with the same rules Prisma uses (applied = finished and not rolled back,
// failed = neither finished nor rolled back).
import { INCOMPLETE_DOWN_MARKER, type LocalMigration } from './files.ts'
import { type HistoryRow, rowState } from './history.ts'

export type MigrationState = 'applied' | 'pending' | 'failed' | 'rolled_back'

export interface StatusEntry {
  name: string
  /** `rolled_back` means a row marked rolled back and no applied row: it will be applied again, like `pending`. */
  state: MigrationState
  local: LocalMigration | undefined
  /** The row that decides the state (latest applied / failed / rolled back). */
  row: HistoryRow | undefined
  hasDown: boolean
  /** down.sql still holds the stub marker written by `migrate:create --empty`. */
  downIncomplete: boolean
  /** For applied or failed rows with a local file: does migration.sql still match the recorded checksum? */
  checksumMatches: boolean | undefined
  /** Recorded in the database but no folder for it in the migrations folder. */
  missingLocally: boolean
  /** Not applied yet but sorted before an applied migration. */
  outOfOrder: boolean
}

export interface HistoryStatus {
  entries: StatusEntry[]
  counts: { applied: number; pending: number; failed: number; missingLocally: number; edited: number; outOfOrder: number }
  /** Nothing pending and nothing wrong. */
  upToDate: boolean
  /** Failed rows, edits, missing folders or out-of-order pending migrations. */
  needsAttention: boolean
}

const latest = (rows: HistoryRow[]): HistoryRow | undefined => rows.at(-1)

export function computeStatus(local: LocalMigration[], rows: HistoryRow[]): HistoryStatus {
  const byName = new Map<string, HistoryRow[]>()
  for (const r of rows) byName.set(r.migrationName, [...(byName.get(r.migrationName) ?? []), r])
  const localByName = new Map(local.map((m) => [m.name, m]))
  const names = [...new Set([...local.map((m) => m.name), ...byName.keys()])].sort()

  const entries: StatusEntry[] = names.map((name) => {
    const mRows = byName.get(name) ?? []
    const m = localByName.get(name)
    const failed = latest(mRows.filter((r) => rowState(r) === 'failed'))
    const applied = latest(mRows.filter((r) => rowState(r) === 'applied'))
    const rolledBack = latest(mRows.filter((r) => rowState(r) === 'rolled_back'))
    // A failed row blocks deploys whatever else exists, so it wins.
    const state: MigrationState = failed ? 'failed' : applied ? 'applied' : rolledBack ? 'rolled_back' : 'pending'
    const row = failed ?? applied ?? rolledBack
    return {
      name,
      state,
      local: m,
      row,
      hasDown: m?.down !== undefined,
      downIncomplete: m?.down?.includes(INCOMPLETE_DOWN_MARKER) ?? false,
      checksumMatches: m && row && state !== 'rolled_back' ? row.checksum === m.checksum : undefined,
      missingLocally: !m,
      outOfOrder: false,
    }
  })
  const lastApplied = entries.filter((e) => e.state === 'applied').at(-1)?.name
  for (const e of entries) {
    if ((e.state === 'pending' || e.state === 'rolled_back') && lastApplied !== undefined && e.name < lastApplied) e.outOfOrder = true
  }
  const counts = {
    applied: entries.filter((e) => e.state === 'applied').length,
    pending: entries.filter((e) => (e.state === 'pending' || e.state === 'rolled_back') && e.local).length,
    failed: entries.filter((e) => e.state === 'failed').length,
    missingLocally: entries.filter((e) => e.missingLocally && e.state !== 'rolled_back').length,
    // A failed migration changed nothing; a new checksum there means it was fixed, not edited.
    edited: entries.filter((e) => e.checksumMatches === false && e.state === 'applied').length,
    outOfOrder: entries.filter((e) => e.outOfOrder).length,
  }
  const needsAttention = counts.failed + counts.missingLocally + counts.edited + counts.outOfOrder > 0
  return { entries, counts, upToDate: counts.pending === 0 && !needsAttention, needsAttention }
}

/** What a failed migration left in the database. */
export type FailedResidue = { kind: 'nothing' } | { kind: 'statements'; applied: number; total: number } | { kind: 'unknown' }

/**
 * From the outcome recorded with the failed row. A row without one was
 * written by Prisma's engine (through the stand-in, which runs a file without
 * the no-transaction line in one transaction) or by a run killed part-way.
 */
export function failedResidue(e: StatusEntry): FailedResidue {
  const o = e.row?.outcome
  if (o) return o.mode === 'transaction' || o.applied === 0 ? { kind: 'nothing' } : { kind: 'statements', applied: o.applied, total: o.total }
  return e.local && !e.local.outsideTransaction ? { kind: 'nothing' } : { kind: 'unknown' }
}
