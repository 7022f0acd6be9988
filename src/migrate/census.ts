// A brute-force count of every user table: rows and non-null values per
// column, by scanning everything. `migrate:verify` (and the tests) check the
// loss report of loss.ts against the difference of two censuses: a second,
// independent way to the same numbers.
import type pg from 'pg'
import type { LossItem } from './loss.ts'
import { quoteIdent } from './sql.ts'

export interface TableCensus {
  rows: number
  /** Non-null values per column, in column order. */
  nonNull: Record<string, number>
  /** `<table oid>:<attnum>` per column: a column renamed in place keeps it, a dropped and re-added one does not. */
  ids: Record<string, string>
}

/** Tables keyed by name, schema-qualified outside `schema`; `_prisma_migrations` left out. */
export async function census(client: pg.Client, schema: string): Promise<Record<string, TableCensus>> {
  const tables = await client.query<{ schema: string; name: string; cols: string[]; nums: string[] }>(
    `SELECT n.nspname AS schema, c.relname AS name,
            array(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS cols,
            array(SELECT c.oid::text || ':' || a.attnum FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS nums
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
        AND c.relname <> '_prisma_migrations' AND NOT c.relispartition
        AND coalesce(obj_description(c.oid, 'pg_class'), '') NOT LIKE 'watify:internal%'
      ORDER BY 1, 2`,
  )
  const out: Record<string, TableCensus> = {}
  for (const t of tables.rows) {
    const counts = t.cols.map((c, i) => `, count(${quoteIdent(c)})::int8 AS c${i}`).join('')
    const row = (await client.query(`SELECT count(*)::int8 AS n${counts} FROM ${quoteIdent(t.schema)}.${quoteIdent(t.name)}`)).rows[0]
    out[t.schema === schema ? t.name : `${t.schema}.${t.name}`] = { rows: Number(row.n), nonNull: Object.fromEntries(t.cols.map((c, i) => [c, Number(row[`c${i}`])])), ids: Object.fromEntries(t.cols.map((c, i) => [c, t.nums[i]!])) }
  }
  return out
}

/**
 * Where a loss report disagrees with what two censuses show really went
 * (empty when it is exact). Row updates that keep values non-null cannot be
 * seen by counting, so only drops, deletions and lost non-null values are compared.
 */
export function compareLoss(items: LossItem[], before: Record<string, TableCensus>, after: Record<string, TableCensus>): string[] {
  const problems: string[] = []
  const expected = new Map<string, string>()
  for (const [table, b] of Object.entries(before)) {
    const a = after[table]
    if (!a) {
      expected.set(`table ${table}`, `dropped ${b.rows} rows; ${Object.entries(b.nonNull).map(([c, n]) => `${c} ${n}`).join(', ')}`)
      continue
    }
    // A column renamed in place (RENAME COLUMN) is the same column under its new name.
    const now = (c: string) => (c in a.nonNull ? c : Object.keys(a.ids).find((k) => a.ids[k] === b.ids[c]))
    for (const [c, n] of Object.entries(b.nonNull)) {
      if (now(c) === undefined) expected.set(`column ${table}.${c}`, `dropped ${n} values`)
    }
    const gone = Object.entries(b.nonNull).flatMap(([c, n]) => {
      const k = now(c)
      return k !== undefined && a.nonNull[k]! < n ? [`${c} ${n - a.nonNull[k]!}`] : []
    })
    if (a.rows < b.rows || gone.length) expected.set(`rows ${table}`, `${b.rows} -> ${a.rows} rows; gone ${gone.join(', ')}`)
  }
  const reported = new Map<string, string>()
  for (const i of items) {
    if (i.kind === 'table-dropped') reported.set(`table ${i.table}`, `dropped ${i.rows} rows; ${i.columns.map((c) => `${c.column} ${c.nonNull}`).join(', ')}`)
    else if (i.kind === 'column-dropped') reported.set(`column ${i.table}.${i.column}`, `dropped ${i.nonNull} values`)
    else if (i.kind === 'rows-changed' && (i.rowsAfter < i.rowsBefore || i.gone.length)) reported.set(`rows ${i.table}`, `${i.rowsBefore} -> ${i.rowsAfter} rows; gone ${i.gone.map((c) => `${c.column} ${c.values}`).join(', ')}`)
  }
  for (const key of new Set([...expected.keys(), ...reported.keys()])) {
    if (expected.get(key) !== reported.get(key)) problems.push(`${key}: reported ${reported.get(key) ?? 'nothing'}, really ${expected.get(key) ?? 'nothing'}`)
  }
  return problems
}
