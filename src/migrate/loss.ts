// What a destructive plan (rollback, reset) would destroy, measured by doing
// it, not by reading its SQL: whatever the SQL is (DROP … CASCADE, TRUNCATE,
// DELETE, UPDATE … SET NULL, DO blocks, dynamic SQL), its effect on the
// catalog and on the transaction's own row counters says which tables and
// columns it touched, and exact counts before and after say how much went.
//
// Inside the caller's transaction, for a plan of definitions only (DROP …):
//   SAVEPOINT; run the plan; compare catalog + pg_stat_xact_user_tables;
//   ROLLBACK TO SAVEPOINT          -> the set of touched tables/columns
//   count those tables (exact)     -> before
//   run the plan again             -> for real (the caller commits or not)
//   count the touched tables left  -> after
// For a plan that moves data (UPDATE, DELETE, DO …), running it twice could
// cost more than counting: every table is counted before, the plan runs once.
import type pg from 'pg'
import { MigrateError } from './errors.ts'
import { HISTORY_TABLE } from './history.ts'
import { quoteIdent } from './sql.ts'

interface ColumnInfo {
  attnum: number
  name: string
  type: string
}

interface RelationInfo {
  oid: number
  schema: string
  name: string
  filenode: number
  columns: ColumnInfo[]
}

type Catalog = Map<number, RelationInfo>
type XactStats = Map<number, { upd: number; del: number; ins: number }>

export interface ColumnLoss {
  column: string
  /** Non-null values before. */
  nonNull: number
}

export type LossItem =
  /** The table is gone, with all its rows. */
  | { kind: 'table-dropped'; table: string; rows: number; columns: ColumnLoss[] }
  /** The column is gone, with its values. */
  | { kind: 'column-dropped'; table: string; column: string; rows: number; nonNull: number }
  /** The column stays but its type changes; every value is converted. */
  | { kind: 'column-converted'; table: string; column: string; from: string; to: string; nonNull: number }
  /** The table stays; rows deleted or updated; `gone`: fewer non-null values per column (deleted rows, SET NULL). */
  | { kind: 'rows-changed'; table: string; rowsBefore: number; rowsAfter: number; deleted: number; updated: number; inserted: number; gone: Array<{ column: string; values: number }> }

export interface LossReport {
  items: LossItem[]
  /** True when something that holds data would go or change. */
  losesData: boolean
  /** How long measuring took (both counts), in ms; the plan's own runs excluded. */
  countMs: number
}

async function readCatalog(client: pg.Client): Promise<Catalog> {
  const r = await client.query<{ oid: number; schema: string; name: string; filenode: number; cols: Array<{ n: number; name: string; type: string }> | null }>(
    `SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, c.relfilenode::int8 AS filenode,
            (SELECT json_agg(json_build_object('n', a.attnum, 'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
               FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS cols
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'm')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
        AND c.relname <> $1
        -- a partition's rows are its partitioned table's: counted once, there
        AND NOT c.relispartition
        -- derived rows, kept by triggers and rebuilt from other tables (010's lookup tables)
        AND coalesce(obj_description(c.oid, 'pg_class'), '') NOT LIKE 'watify:internal%'`,
    [HISTORY_TABLE],
  )
  return new Map(r.rows.map((x) => [Number(x.oid), { oid: Number(x.oid), schema: x.schema, name: x.name, filenode: Number(x.filenode), columns: (x.cols ?? []).map((c) => ({ attnum: c.n, name: c.name, type: c.type })) }]))
}

async function readXactStats(client: pg.Client): Promise<XactStats> {
  const r = await client.query<{ relid: string; upd: string; del: string; ins: string }>(`SELECT relid::int8 AS relid, n_tup_upd AS upd, n_tup_del AS del, n_tup_ins AS ins FROM pg_stat_xact_user_tables`)
  return new Map(r.rows.map((x) => [Number(x.relid), { upd: Number(x.upd), del: Number(x.del), ins: Number(x.ins) }]))
}

const qualified = (r: RelationInfo): string => `${quoteIdent(r.schema)}.${quoteIdent(r.name)}`

/** Table name as people read it: schema-qualified only outside `schema`. */
const shown = (r: RelationInfo, schema: string): string => (r.schema === schema ? r.name : `${r.schema}.${r.name}`)

interface Counts {
  rows: number
  nonNull: Map<string, number>
}

async function countRelation(client: pg.Client, r: RelationInfo, columns: ColumnInfo[]): Promise<Counts> {
  const cols = columns.map((c, i) => `count(${quoteIdent(c.name)}) AS c${i}`)
  const row = (await client.query(`SELECT count(*) AS n${cols.length ? `, ${cols.join(', ')}` : ''} FROM ${qualified(r)}`)).rows[0]
  return { rows: Number(row.n), nonNull: new Map(columns.map((c, i) => [c.name, Number(row[`c${i}`])])) }
}

interface Touched {
  dropped: RelationInfo[]
  /** Surviving tables whose rows or columns changed, with what to compare. */
  changed: Array<{ before: RelationInfo; after: RelationInfo; droppedColumns: ColumnInfo[]; converted: Array<{ before: ColumnInfo; after: ColumnInfo }>; byName?: boolean }>
}

/** Column `c` of a table in its other version: same attnum, or (a table replaced by another of its name) same name. */
const sameColumn = (byName: boolean | undefined) => (x: ColumnInfo, c: ColumnInfo): boolean => (byName ? x.name === c.name : x.attnum === c.attnum)

function compare(before: Catalog, after: Catalog, s0: XactStats, s1: XactStats): Touched {
  const t: Touched = { dropped: [], changed: [] }
  // A table dropped while another takes its name, which was not a table of its own before
  // (e.g. a partition made the plain table again, 010's down.sql): the same table, rows compared.
  const afterByName = new Map([...after.values()].map((r) => [`${r.schema}.${r.name}`, r]))
  for (const [oid, b] of before) {
    const renamed = after.has(oid) ? undefined : afterByName.get(`${b.schema}.${b.name}`)
    const a = after.get(oid) ?? (renamed && !before.has(renamed.oid) ? renamed : undefined)
    if (!a) {
      t.dropped.push(b)
      continue
    }
    const byName = a !== after.get(oid)
    const same = sameColumn(byName)
    const droppedColumns = b.columns.filter((c) => !a.columns.some((x) => same(x, c)))
    const converted = b.columns.flatMap((c) => {
      const ac = a.columns.find((x) => same(x, c))
      return ac && ac.type !== c.type ? [{ before: c, after: ac }] : []
    })
    if (byName) {
      t.changed.push({ before: b, after: a, droppedColumns, converted, byName })
      continue
    }
    const x0 = s0.get(oid) ?? { upd: 0, del: 0, ins: 0 }
    const x1 = s1.get(oid) ?? { upd: 0, del: 0, ins: 0 }
    // A new relfilenode without a conversion means TRUNCATE (or a rewrite): count to know.
    const rewritten = a.filenode !== b.filenode
    if (droppedColumns.length || converted.length || rewritten || x1.upd > x0.upd || x1.del > x0.del) t.changed.push({ before: b, after: a, droppedColumns, converted })
  }
  return t
}

export interface MeasuredRun {
  report: LossReport
}

/**
 * Measures what `runPlan` destroys, leaving its effect in place: the caller
 * is inside a transaction and decides to COMMIT or ROLLBACK.
 *
 * `catalogOnly` (the plan only drops or alters definitions, see
 * sql.ts `isCatalogOnly`): the plan runs twice, first under a savepoint to
 * learn which tables it touches, so only those are counted. Otherwise (it
 * moves data: UPDATE, DELETE, DO …) every table is counted before and the
 * plan runs once, so no data statement runs twice.
 */
export async function runMeasured(client: pg.Client, schema: string, runPlan: () => Promise<void>, opts: { catalogOnly: boolean }): Promise<MeasuredRun> {
  let countMs = 0
  const countAll = async (rels: RelationInfo[]): Promise<Map<number, Counts>> => {
    const t0 = performance.now()
    const out = new Map<number, Counts>()
    for (const r of rels) out.set(r.oid, await countRelation(client, r, r.columns))
    countMs += performance.now() - t0
    return out
  }
  const c0 = await readCatalog(client)
  let touched: Touched
  let before: Map<number, Counts>
  let s1: XactStats
  let s2: XactStats
  if (opts.catalogOnly) {
    await client.query('SAVEPOINT watify_loss_probe')
    const s0 = await readXactStats(client)
    await runPlan()
    touched = compare(c0, await readCatalog(client), s0, await readXactStats(client))
    await client.query('ROLLBACK TO SAVEPOINT watify_loss_probe')
    await client.query('RELEASE SAVEPOINT watify_loss_probe')
    before = await countAll([...touched.dropped, ...touched.changed.map((c) => c.before)])
    s1 = await readXactStats(client)
    await runPlan()
    s2 = await readXactStats(client)
  } else {
    before = await countAll([...c0.values()])
    s1 = await readXactStats(client)
    await runPlan()
    s2 = await readXactStats(client)
    touched = compare(c0, await readCatalog(client), s1, s2)
  }

  const t1 = performance.now()
  const items: LossItem[] = []
  for (const r of touched.dropped) {
    const b = before.get(r.oid)!
    items.push({ kind: 'table-dropped', table: shown(r, schema), rows: b.rows, columns: r.columns.map((c) => ({ column: c.name, nonNull: b.nonNull.get(c.name) ?? 0 })) })
  }
  for (const ch of touched.changed) {
    const b = before.get(ch.before.oid)!
    const table = shown(ch.after, schema)
    for (const c of ch.droppedColumns) items.push({ kind: 'column-dropped', table, column: c.name, rows: b.rows, nonNull: b.nonNull.get(c.name) ?? 0 })
    for (const c of ch.converted) items.push({ kind: 'column-converted', table, column: c.after.name, from: c.before.type, to: c.after.type, nonNull: b.nonNull.get(c.before.name) ?? 0 })
    const kept = ch.after.columns.filter((c) => ch.before.columns.some((bc) => sameColumn(ch.byName)(bc, c) && bc.name === c.name))
    const a = await countRelation(client, ch.after, kept)
    const x1 = s1.get(ch.after.oid) ?? { upd: 0, del: 0, ins: 0 }
    const x2 = s2.get(ch.after.oid) ?? { upd: 0, del: 0, ins: 0 }
    const deleted = Math.max(x2.del - x1.del, b.rows - a.rows, 0)
    const updated = x2.upd - x1.upd
    const inserted = x2.ins - x1.ins
    const gone = kept.flatMap((c) => {
      const lost = (b.nonNull.get(c.name) ?? 0) - (a.nonNull.get(c.name) ?? 0)
      return lost > 0 ? [{ column: c.name, values: lost }] : []
    })
    if (deleted || updated || gone.length || a.rows !== b.rows) items.push({ kind: 'rows-changed', table, rowsBefore: b.rows, rowsAfter: a.rows, deleted, updated, inserted, gone })
  }
  countMs += performance.now() - t1
  items.sort((x, y) => (x.table < y.table ? -1 : x.table > y.table ? 1 : 0))
  return { report: { items, losesData: items.some(holdsData), countMs: Math.round(countMs) } }
}

/** Does this item lose or change data (as opposed to dropping an empty table)? */
export function holdsData(i: LossItem): boolean {
  switch (i.kind) {
    case 'table-dropped':
      return i.rows > 0
    case 'column-dropped':
    case 'column-converted':
      return i.nonNull > 0
    case 'rows-changed':
      return i.deleted > 0 || i.updated > 0 || i.gone.length > 0
  }
}

/** Lines for people: one per item, and for a dropped table a second with each column's values. */
export function describeLoss(i: LossItem): string[] {
  const n = (k: number, one: string, many = `${one}s`): string => `${k} ${k === 1 ? one : many}`
  switch (i.kind) {
    case 'table-dropped': {
      const cols = i.columns.filter((c) => c.nonNull > 0)
      return [`table \`${i.table}\`: dropped with ${n(i.rows, 'row')}`, ...(cols.length ? [`  non-null values: ${cols.map((c) => `${c.column} ${c.nonNull}`).join(', ')}`] : [])]
    }
    case 'column-dropped':
      return [`column \`${i.table}.${i.column}\`: dropped with ${n(i.nonNull, 'non-null value')} (${n(i.rows, 'row')})`]
    case 'column-converted':
      return [`column \`${i.table}.${i.column}\`: ${n(i.nonNull, 'value')} converted from ${i.from} to ${i.to}`]
    case 'rows-changed': {
      const parts: string[] = []
      if (i.deleted) parts.push(`${n(i.deleted, 'row')} deleted`)
      if (i.updated) parts.push(n(i.updated, 'row update'))
      if (i.inserted) parts.push(`${n(i.inserted, 'row')} inserted`)
      const gone = i.gone.length ? [`  non-null values gone: ${i.gone.map((c) => `${c.column} ${c.values}`).join(', ')}`] : []
      return [`table \`${i.table}\`: ${parts.join(', ') || 'rewritten'} (${i.rowsBefore} → ${i.rowsAfter} rows)`, ...gone]
    }
  }
}

/** A stable key per item, to check that what is about to be lost is what was confirmed. */
export function lossKey(i: LossItem): string {
  return i.kind === 'table-dropped' || i.kind === 'rows-changed' ? `${i.kind} ${i.table}` : `${i.kind} ${i.table}.${i.column}`
}

export interface LossConsent {
  /** Go ahead whatever is lost. */
  acceptDataLoss?: boolean
  /** `lossKey`s shown and confirmed earlier: go ahead when the loss now is within them. */
  confirmedLoss?: string[]
}

/** The refusal for a loss nobody accepted, or undefined when it may go ahead. */
export function refusal(report: LossReport, consent: LossConsent, action: string): MigrateError | undefined {
  if (consent.acceptDataLoss) return undefined
  const confirmed = new Set(consent.confirmedLoss ?? [])
  if (!report.items.some((i) => holdsData(i) && !confirmed.has(lossKey(i)))) return undefined
  const why = consent.confirmedLoss ? 'what it would destroy changed since it was confirmed' : 'it would destroy data'
  return new MigrateError('DATA_LOSS_REFUSED', `Refusing to ${action}: ${why}. Nothing was changed.`, {
    details: ['Data that would be lost:', ...report.items.flatMap((i) => describeLoss(i).map((l) => `    ${l}`))],
  })
}
