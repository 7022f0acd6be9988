// What a destructive plan (rollback, reset) would destroy, measured by doing
// it, not by reading its SQL: whatever the SQL is (DROP … CASCADE, TRUNCATE,
// DELETE, UPDATE … SET NULL, ALTER … TYPE … USING, DO blocks, dynamic SQL),
// its effect on the catalog, on the transaction's own row counters and on
// the values themselves says which tables and columns it touched and how
// much went. Inside the caller's transaction:
//   SAVEPOINT; run the plan            -> the tables it touches (catalog + pg_stat_xact_user_tables)
//   ROLLBACK TO SAVEPOINT
//   LOCK those tables IN SHARE MODE    -> nobody writes them until we commit or roll back
//   count them (exact; value hashes of tables the plan rewrites)
//   SAVEPOINT; run the plan again      -> for real
//   it touched a table not counted? roll back to that savepoint, lock and count it too, run again
//   count what is left                 -> after
// So a row written while the command waited is either counted or blocked,
// never destroyed unreported.
import type pg from 'pg'
import { readRelations, type ColumnInfo, type RelationInfo } from './catalog.ts'
import { MigrateError } from './errors.ts'
import { quoteIdent } from './sql.ts'

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
  /** The column stays but the table was rewritten with new values for it (ALTER … TYPE … USING, same type or not); `changed`: values that are no longer what they were. */
  | { kind: 'column-converted'; table: string; column: string; from: string; to: string; nonNull: number; changed: number }
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
  return new Map((await readRelations(client)).map((r) => [r.oid, r]))
}

async function readXactStats(client: pg.Client): Promise<XactStats> {
  const r = await client.query<{ relid: string; upd: string; del: string; ins: string }>(`SELECT relid::int8 AS relid, n_tup_upd AS upd, n_tup_del AS del, n_tup_ins AS ins FROM pg_stat_xact_user_tables`)
  return new Map(r.rows.map((x) => [Number(x.relid), { upd: Number(x.upd), del: Number(x.del), ins: Number(x.ins) }]))
}

/**
 * A table's counters: the sum over the relations holding its rows, as `rel` lists
 * them (a partitioned table's partitions). Both readings are summed over the same
 * relations, so a partition that became a table of its own is counted alike.
 */
function statsOf(stats: XactStats, rel: RelationInfo): { upd: number; del: number; ins: number } {
  const out = { upd: 0, del: 0, ins: 0 }
  for (const oid of rel.leaves) {
    const x = stats.get(oid)
    if (x) (out.upd += x.upd), (out.del += x.del), (out.ins += x.ins)
  }
  return out
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
  changed: Array<{ before: RelationInfo; after: RelationInfo; droppedColumns: ColumnInfo[]; converted: Array<{ before: ColumnInfo; after: ColumnInfo }>; rewritten: boolean; byName?: boolean }>
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
      // Another table now: its values are compared with the old ones, as after a rewrite.
      t.changed.push({ before: b, after: a, droppedColumns, converted, rewritten: true, byName })
      continue
    }
    const x0 = statsOf(s0, a)
    const x1 = statsOf(s1, a)
    // A new relfilenode: TRUNCATE, or a rewrite (ALTER … TYPE, even to the same type with USING).
    const rewritten = a.storage !== b.storage
    if (droppedColumns.length || converted.length || rewritten || x1.upd > x0.upd || x1.del > x0.del) t.changed.push({ before: b, after: a, droppedColumns, converted, rewritten })
  }
  return t
}

export interface MeasuredRun {
  report: LossReport
}

/** Temp table of the value hashes of a table the plan rewrites, to count the values a rewrite changes. */
const hashTable = (r: RelationInfo): string => `pg_temp.watify_loss_${r.oid}`
const hashOf = (c: ColumnInfo): string => `hashtextextended(${quoteIdent(c.name)}::text, 0)`

/**
 * Measures what `runPlan` destroys, leaving its effect in place: the caller
 * is inside a transaction and decides to COMMIT or ROLLBACK. `runPlan` may
 * run more than once (each time from the same state) and must be repeatable.
 */
export async function runMeasured(client: pg.Client, schema: string, runPlan: () => Promise<void>): Promise<MeasuredRun> {
  let countMs = 0
  const c0 = await readCatalog(client)
  const before = new Map<number, Counts>()
  const hashed = new Set<number>()
  const measure = async (touched: Touched): Promise<void> => {
    const t0 = performance.now()
    const rels = [...touched.dropped, ...touched.changed.map((c) => c.before)].filter((r) => !before.has(r.oid))
    if (rels.length) await client.query(`LOCK TABLE ${rels.map(qualified).join(', ')} IN SHARE MODE`)
    for (const r of rels) before.set(r.oid, await countRelation(client, r, r.columns))
    for (const ch of touched.changed) {
      if (!ch.rewritten || hashed.has(ch.before.oid) || !ch.before.columns.length) continue
      await client.query(`CREATE TEMP TABLE ${hashTable(ch.before)} ON COMMIT DROP AS SELECT ${ch.before.columns.map((c, i) => `${hashOf(c)} AS h${i}`).join(', ')} FROM ${qualified(ch.before)}`)
      hashed.add(ch.before.oid)
    }
    countMs += performance.now() - t0
  }
  const counted = (t: Touched): boolean =>
    [...t.dropped, ...t.changed.map((c) => c.before)].every((r) => before.has(r.oid)) && t.changed.every((c) => !c.rewritten || hashed.has(c.before.oid) || !c.before.columns.length)

  let touched: Touched | undefined
  let s1: XactStats = new Map()
  let s2: XactStats = new Map()
  for (let round = 1; ; round++) {
    await client.query('SAVEPOINT watify_loss_run')
    s1 = await readXactStats(client)
    await runPlan()
    s2 = await readXactStats(client)
    touched = compare(c0, await readCatalog(client), s1, s2)
    if (counted(touched)) break
    if (round >= 4) throw new MigrateError('INTERNAL', 'What the plan destroys kept changing between runs (it touched other tables each time); nothing was changed.', { hint: 'Run the command again when the database is quieter' })
    // Not measured yet: undo this run (its locks go with it), lock and count what it touched, run again.
    await client.query('ROLLBACK TO SAVEPOINT watify_loss_run')
    await client.query('RELEASE SAVEPOINT watify_loss_run')
    await measure(touched)
  }
  await client.query('RELEASE SAVEPOINT watify_loss_run')

  const t1 = performance.now()
  const items = await lossItems(client, schema, touched, before, s1, s2)
  countMs += performance.now() - t1
  items.sort((x, y) => (x.table < y.table ? -1 : x.table > y.table ? 1 : 0))
  return { report: { items, losesData: items.some(holdsData), countMs: Math.round(countMs) } }
}

/** The report's items: what went, from the counts before and the state after. */
async function lossItems(client: pg.Client, schema: string, touched: Touched, before: Map<number, Counts>, s1: XactStats, s2: XactStats): Promise<LossItem[]> {
  const items: LossItem[] = []
  for (const r of touched.dropped) {
    const b = before.get(r.oid)!
    items.push({ kind: 'table-dropped', table: shown(r, schema), rows: b.rows, columns: r.columns.map((c) => ({ column: c.name, nonNull: b.nonNull.get(c.name) ?? 0 })) })
  }
  for (const ch of touched.changed) {
    const b = before.get(ch.before.oid)!
    const table = shown(ch.after, schema)
    for (const c of ch.droppedColumns) items.push({ kind: 'column-dropped', table, column: c.name, rows: b.rows, nonNull: b.nonNull.get(c.name) ?? 0 })
    const same = sameColumn(ch.byName)
    const kept = ch.after.columns.filter((c) => ch.before.columns.some((bc) => same(bc, c) && bc.name === c.name))
    const a = await countRelation(client, ch.after, kept)
    // A rewrite that kept the rows: which values are no longer what they were (as text, as a multiset).
    if (ch.rewritten && a.rows > 0) {
      for (const c of kept) {
        const i = ch.before.columns.findIndex((bc) => same(bc, c))
        // Values that now read differently; values made NULL are counted below as non-null values gone.
        const changed = Number((await client.query(`SELECT count(*)::int8 AS n FROM (SELECT ${hashOf(c)} FROM ${qualified(ch.after)} WHERE ${quoteIdent(c.name)} IS NOT NULL EXCEPT ALL SELECT h${i} FROM ${hashTable(ch.before)}) x`)).rows[0].n)
        const from = ch.before.columns[i]!.type
        if (changed > 0 || from !== c.type) items.push({ kind: 'column-converted', table, column: c.name, from, to: c.type, nonNull: b.nonNull.get(c.name) ?? 0, changed })
      }
    }
    const x1 = statsOf(s1, ch.after)
    const x2 = statsOf(s2, ch.after)
    const deleted = Math.max(x2.del - x1.del, b.rows - a.rows, 0)
    const updated = x2.upd - x1.upd
    const inserted = x2.ins - x1.ins
    const gone = kept.flatMap((c) => {
      const lost = (b.nonNull.get(c.name) ?? 0) - (a.nonNull.get(c.name) ?? 0)
      return lost > 0 ? [{ column: c.name, values: lost }] : []
    })
    if (deleted || updated || gone.length || a.rows !== b.rows) items.push({ kind: 'rows-changed', table, rowsBefore: b.rows, rowsAfter: a.rows, deleted, updated, inserted, gone })
  }
  return items
}

/** Does this item lose or change data (as opposed to dropping an empty table)? */
export function holdsData(i: LossItem): boolean {
  switch (i.kind) {
    case 'table-dropped':
      return i.rows > 0
    case 'column-dropped':
      return i.nonNull > 0
    case 'column-converted':
      return i.changed > 0 || (i.from !== i.to && i.nonNull > 0)
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
    case 'column-converted': {
      const how = i.from === i.to ? `rewritten (${i.to})` : `converted from ${i.from} to ${i.to}`
      return [`column \`${i.table}.${i.column}\`: ${n(i.nonNull, 'value')} ${how}, ${i.changed} of them changed`]
    }
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

/** A stable key per item: the same table or column in two reports. */
export function lossKey(i: LossItem): string {
  return i.kind === 'table-dropped' || i.kind === 'rows-changed' ? `${i.kind} ${i.table}` : `${i.kind} ${i.table}.${i.column}`
}

/** The amounts of an item, by name: what a confirmation sets a ceiling on. */
function amounts(i: LossItem): Record<string, number> {
  switch (i.kind) {
    case 'table-dropped':
      return { rows: i.rows, ...Object.fromEntries(i.columns.map((c) => [`values ${c.column}`, c.nonNull])) }
    case 'column-dropped':
      return { rows: i.rows, values: i.nonNull }
    case 'column-converted':
      return { values: i.nonNull, changed: i.changed }
    case 'rows-changed':
      return { deleted: i.deleted, updated: i.updated, ...Object.fromEntries(i.gone.map((g) => [`values ${g.column}`, g.values])) }
  }
}

/** Items of `report` that lose data beyond what `confirmed` showed: a new item, or a larger amount. */
export function beyond(report: LossReport, confirmed: LossItem[]): LossItem[] {
  const byKey = new Map(confirmed.map((c) => [lossKey(c), amounts(c)]))
  return report.items.filter((i) => {
    if (!holdsData(i)) return false
    const ceiling = byKey.get(lossKey(i))
    if (!ceiling) return true
    return Object.entries(amounts(i)).some(([k, v]) => v > (ceiling[k] ?? 0))
  })
}

export interface LossConsent {
  /** Go ahead whatever is lost. */
  acceptDataLoss?: boolean
  /** What was shown and confirmed earlier: go ahead only while the loss now is within it, item by item and amount by amount. */
  confirmedLoss?: LossItem[]
}

/** The refusal for a loss nobody accepted, or undefined when it may go ahead. */
export function refusal(report: LossReport, consent: LossConsent, action: string): MigrateError | undefined {
  if (consent.acceptDataLoss) return undefined
  const over = beyond(report, consent.confirmedLoss ?? [])
  if (!over.length) return undefined
  const why = consent.confirmedLoss ? 'what it would destroy grew since it was confirmed' : 'it would destroy data'
  return new LossRefused(`Refusing to ${action}: ${why}. Nothing was changed.`, report, Boolean(consent.confirmedLoss), [
    'Data that would be lost:',
    ...report.items.flatMap((i) => describeLoss(i).map((l) => `    ${l}`)),
  ])
}

/** DATA_LOSS_REFUSED, with the report as a value: a terminal can show it and ask again. */
export class LossRefused extends MigrateError {
  constructor(
    message: string,
    readonly report: LossReport,
    /** True when an earlier confirmation no longer covers the loss (it grew). */
    readonly grew: boolean,
    details: string[],
  ) {
    super('DATA_LOSS_REFUSED', message, { details })
  }
}
