// The Citus distribution plan (prisma/scale-plan.json), checked against the live catalog:
// every table placed (distributed on a column, reference, or local), and every unique
// constraint or index, foreign key, distribution column and trigger that Citus would refuse
// or that the plan must change, as findings. A finding the plan's `accepted` list names
// (with what it becomes, docs/scaling.md) passes; any other fails. No Citus is needed: the
// rules are Citus's documented restrictions, applied to PostgreSQL's own catalog, so a
// schema change that breaks the plan fails CI before anyone tries to distribute it.
import { readFileSync } from 'node:fs'
import path from 'node:path'

import type pg from 'pg'

import { projectRoot } from '../db/config.ts'

export interface DistributedTable {
  column: string
  /** Tables with the same group are co-located (their shards with equal hash values on one node). */
  colocate: string
}

export interface ScalePlan {
  distributed: Record<string, DistributedTable>
  reference: string[]
  local: string[]
  /** Finding id -> what it becomes when moving (docs/scaling.md). */
  accepted: Record<string, string>
}

export type FindingRule =
  | 'table-not-in-plan'
  | 'distribution-column-missing'
  | 'distribution-column-nullable'
  | 'unique-without-distribution-column'
  | 'fk-reference-to-distributed'
  | 'fk-local'
  | 'fk-not-colocated'
  | 'fk-without-distribution-column'
  | 'fk-sets-distribution-column'
  | 'fk-updates-distribution-column'
  | 'trigger'

export interface Finding {
  /** Stable id, the key of the plan's `accepted` list: `<rule>:<table>[:<object>]`. */
  id: string
  rule: FindingRule
  table: string
  object?: string
  /** Why Citus refuses it, or what the plan must settle. */
  message: string
  /** The definition as the catalog shows it. */
  definition?: string
  /** Set when the plan accepts it: what it becomes. */
  acceptedAs?: string
}

export interface ScaleCheckResult {
  planPath: string
  schema: string
  tables: Array<{ name: string; placement: 'distributed' | 'reference' | 'local' | 'unplanned'; column?: string; colocate?: string }>
  findings: Finding[]
  /** Findings not accepted: these fail the check. */
  breaking: Finding[]
  /** Accepted ids that match nothing any more (the schema moved on): remove them from the plan. */
  staleAccepted: string[]
  /** Plan entries naming tables this database does not have (e.g. lookup tables of a later migration). */
  absentTables: string[]
}

export const DEFAULT_PLAN_PATH = 'prisma/scale-plan.json'

export class ScalePlanError extends Error {}

export function readPlan(file: string): ScalePlan {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new ScalePlanError(`Cannot read the distribution plan ${file}: ${(err as Error).message}. Fix the file, or pass --plan=<path>.`)
  }
  const p = raw as Partial<ScalePlan>
  const ok =
    typeof p === 'object' && p !== null &&
    typeof p.distributed === 'object' && p.distributed !== null &&
    Object.values(p.distributed).every((d) => typeof d?.column === 'string' && typeof d?.colocate === 'string') &&
    Array.isArray(p.reference) && p.reference.every((t) => typeof t === 'string') &&
    Array.isArray(p.local) && p.local.every((t) => typeof t === 'string') &&
    typeof p.accepted === 'object' && p.accepted !== null && Object.values(p.accepted).every((v) => typeof v === 'string')
  if (!ok) throw new ScalePlanError(`The distribution plan ${file} must have "distributed" ({ table: { "column", "colocate" } }), "reference" and "local" (lists of tables) and "accepted" ({ finding id: what it becomes }).`)
  const seen = new Map<string, string>()
  for (const [kind, names] of [['distributed', Object.keys(p.distributed!)], ['reference', p.reference!], ['local', p.local!]] as const) {
    for (const n of names) {
      if (seen.has(n)) throw new ScalePlanError(`The distribution plan ${file} lists \`${n}\` as both ${seen.get(n)} and ${kind}: give each table one placement.`)
      seen.set(n, kind)
    }
  }
  return p as ScalePlan
}

interface TableRow {
  oid: number
  name: string
  columns: Record<string, { attnum: number; notNull: boolean }>
}

interface UniqueRow {
  table: string
  name: string
  kind: 'primary key' | 'unique constraint' | 'unique index' | 'exclusion constraint'
  keys: Array<string | null>
  definition: string
}

interface FkRow {
  table: string
  name: string
  columns: string[]
  refTable: string
  refColumns: string[]
  onDelete: string
  onUpdate: string
  definition: string
}

const ACTIONS: Record<string, string> = { a: 'NO ACTION', r: 'RESTRICT', c: 'CASCADE', n: 'SET NULL', d: 'SET DEFAULT' }

/** The tables (partitions count as their partitioned table), unique rules, foreign keys and triggers of `schema`. */
async function readScaleCatalog(client: pg.Client, schema: string): Promise<{ tables: TableRow[]; uniques: UniqueRow[]; fks: FkRow[]; triggers: Array<{ table: string; name: string; definition: string }> }> {
  const tables = (
    await client.query<{ oid: number; name: string; columns: Array<{ name: string; attnum: number; not_null: boolean }> }>(
      `SELECT c.oid::int AS oid, c.relname AS name,
              (SELECT json_agg(json_build_object('name', a.attname, 'attnum', a.attnum, 'not_null', a.attnotnull) ORDER BY a.attnum)
                 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        ORDER BY c.relname`,
      [schema],
    )
  ).rows.map((r): TableRow => ({ oid: r.oid, name: r.name, columns: Object.fromEntries((r.columns ?? []).map((c) => [c.name, { attnum: c.attnum, notNull: c.not_null }])) }))
  const oids = tables.map((t) => t.oid)

  // Unique constraints (incl. primary keys), exclusion constraints, and unique indexes no constraint owns.
  const uniques = (
    await client.query<{ table: string; name: string; kind: UniqueRow['kind']; keys: Array<string | null>; definition: string }>(
      `SELECT t.relname AS table, con.conname AS name,
              CASE con.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique constraint' ELSE 'exclusion constraint' END AS kind,
              (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS keys,
              pg_get_constraintdef(con.oid) AS definition
         FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid
        WHERE con.conrelid = ANY($1::oid[]) AND con.contype IN ('p', 'u', 'x')
       UNION ALL
       SELECT t.relname, ic.relname, 'unique index',
              (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
                 LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                WHERE k.ord <= i.indnkeyatts),
              pg_get_indexdef(i.indexrelid)
         FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = ANY($1::oid[]) AND i.indisunique
          AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x'))
        ORDER BY 1, 2`,
      [oids],
    )
  ).rows

  const fks = (
    await client.query<{ table: string; name: string; columns: string[]; ref_table: string; ref_schema: string; ref_columns: string[]; del: string; upd: string; definition: string }>(
      `SELECT t.relname AS table, con.conname AS name,
              (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS columns,
              r.relname AS ref_table, rn.nspname AS ref_schema,
              (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum) AS ref_columns,
              con.confdeltype AS del, con.confupdtype AS upd, pg_get_constraintdef(con.oid) AS definition
         FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid JOIN pg_class r ON r.oid = con.confrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace
        WHERE con.conrelid = ANY($1::oid[]) AND con.contype = 'f' AND con.conparentid = 0
        ORDER BY 1, 2`,
      [oids],
    )
  ).rows.map((r): FkRow => ({ table: r.table, name: r.name, columns: r.columns, refTable: r.ref_schema === schema ? r.ref_table : `${r.ref_schema}.${r.ref_table}`, refColumns: r.ref_columns, onDelete: ACTIONS[r.del] ?? r.del, onUpdate: ACTIONS[r.upd] ?? r.upd, definition: r.definition }))

  const triggers = (
    await client.query<{ table: string; name: string; definition: string }>(
      `SELECT t.relname AS table, tg.tgname AS name, pg_get_triggerdef(tg.oid) AS definition
         FROM pg_trigger tg JOIN pg_class t ON t.oid = tg.tgrelid
        WHERE tg.tgrelid = ANY($1::oid[]) AND NOT tg.tgisinternal AND tg.tgparentid = 0
        ORDER BY 1, 2`,
      [oids],
    )
  ).rows

  return { tables, uniques, fks, triggers }
}

type Placement = 'distributed' | 'reference' | 'local' | 'unplanned'

/** What in the catalog would not survive the plan, one finding each. */
function planFindings(
  { tables, uniques, fks, triggers }: Awaited<ReturnType<typeof readScaleCatalog>>,
  placement: (t: string) => Placement,
  dist: (t: string) => DistributedTable | undefined,
): Finding[] {
  const findings: Finding[] = []
  const add = (f: Omit<Finding, 'id'>) => findings.push({ id: [f.rule, f.table, ...(f.object ? [f.object] : [])].join(':'), ...f })

  for (const t of tables) {
    const p = placement(t.name)
    if (p === 'unplanned') {
      add({ rule: 'table-not-in-plan', table: t.name, message: `table \`${t.name}\` is not in the plan: add it to "distributed" (with its distribution column), "reference" or "local" in the plan` })
      continue
    }
    const d = dist(t.name)
    if (!d) continue
    const col = t.columns[d.column]
    if (!col) add({ rule: 'distribution-column-missing', table: t.name, object: d.column, message: `the plan distributes \`${t.name}\` on \`${d.column}\`, which the table does not have` })
    else if (!col.notNull) add({ rule: 'distribution-column-nullable', table: t.name, object: d.column, message: `distribution column \`${t.name}.${d.column}\` allows NULL; Citus refuses rows without a distribution value` })
  }

  for (const u of uniques) {
    const d = dist(u.table)
    if (!d) continue // unique constraints of reference and local tables are enforced as they are
    if (!u.keys.includes(d.column)) {
      add({
        rule: 'unique-without-distribution-column',
        table: u.table,
        object: u.name,
        definition: u.definition,
        message: `${u.kind} \`${u.name}\` on \`${u.table}\` does not include the distribution column \`${d.column}\`: Citus can only enforce uniqueness within one shard`,
      })
    }
  }

  for (const fk of fks) {
    const from = placement(fk.table)
    const to = placement(fk.refTable)
    const base = { table: fk.table, object: fk.name, definition: fk.definition }
    if (from === 'unplanned' || to === 'unplanned') continue // reported as a table not in the plan
    if (from === 'local' || to === 'local') {
      if (from !== to) add({ rule: 'fk-local', ...base, message: `foreign key \`${fk.name}\` joins ${from} \`${fk.table}\` and ${to} \`${fk.refTable}\`: Citus keeps foreign keys between local tables only among themselves (or to reference tables with citus.use_citus_managed_tables)` })
      continue
    }
    if (from === 'reference' && to === 'distributed') {
      add({ rule: 'fk-reference-to-distributed', ...base, message: `foreign key \`${fk.name}\` from reference table \`${fk.table}\` to distributed \`${fk.refTable}\`: Citus does not support it (a reference table's row would have to check every shard)` })
      continue
    }
    if (from !== 'distributed') continue // reference -> reference: as in PostgreSQL
    const d = dist(fk.table)!
    const holdsDistColumn = fk.columns.includes(d.column)
    if (to === 'distributed') {
      const rd = dist(fk.refTable)!
      if (rd.colocate !== d.colocate) {
        add({ rule: 'fk-not-colocated', ...base, message: `foreign key \`${fk.name}\` joins \`${fk.table}\` (co-location ${d.colocate}) and \`${fk.refTable}\` (${rd.colocate}): Citus needs both tables co-located` })
        continue
      }
      const i = fk.columns.indexOf(d.column)
      if (i < 0 || fk.refColumns[i] !== rd.column) {
        add({ rule: 'fk-without-distribution-column', ...base, message: `foreign key \`${fk.name}\` must pair \`${fk.table}.${d.column}\` with \`${fk.refTable}.${rd.column}\` (the distribution columns), so that each row's parent is on its shard` })
        continue
      }
    }
    if (holdsDistColumn && (fk.onDelete === 'SET NULL' || fk.onDelete === 'SET DEFAULT')) {
      add({ rule: 'fk-sets-distribution-column', ...base, message: `foreign key \`${fk.name}\` is ON DELETE ${fk.onDelete} on the distribution column \`${d.column}\`: Citus does not change a row's distribution value` })
    }
    if (holdsDistColumn && ['SET NULL', 'SET DEFAULT', 'CASCADE'].includes(fk.onUpdate)) {
      add({ rule: 'fk-updates-distribution-column', ...base, message: `foreign key \`${fk.name}\` is ON UPDATE ${fk.onUpdate} on the distribution column \`${d.column}\`: Citus does not change a row's distribution value` })
    }
  }

  for (const tg of triggers) {
    const p = placement(tg.table)
    if (p !== 'distributed' && p !== 'reference') continue
    add({
      rule: 'trigger',
      table: tg.table,
      object: tg.name,
      definition: tg.definition,
      message: `trigger \`${tg.name}\` on ${p} \`${tg.table}\` runs on each shard (citus.enable_unsafe_triggers): it may touch only its own row; one that reads or writes other tables must become an explicit statement`,
    })
  }

  return findings
}

/** Reads the catalog of `schema` (partitions count as their partitioned table) and checks it against the plan. */
export async function checkScalePlan(client: pg.Client, opts: { schema: string; planPath?: string }): Promise<ScaleCheckResult> {
  const planPath = path.resolve(projectRoot(), opts.planPath ?? DEFAULT_PLAN_PATH)
  const plan = readPlan(planPath)
  const schema = opts.schema
  const { tables, uniques, fks, triggers } = await readScaleCatalog(client, schema)
  const placement = (t: string): Placement =>
    Object.hasOwn(plan.distributed, t) ? 'distributed' : plan.reference.includes(t) ? 'reference' : plan.local.includes(t) ? 'local' : 'unplanned'
  const dist = (t: string): DistributedTable | undefined => (Object.hasOwn(plan.distributed, t) ? plan.distributed[t] : undefined)
  const findings = planFindings({ tables, uniques, fks, triggers }, placement, dist)
  for (const f of findings) if (Object.hasOwn(plan.accepted, f.id)) f.acceptedAs = plan.accepted[f.id]
  const ids = new Set(findings.map((f) => f.id))
  const present = new Set(tables.map((t) => t.name))
  return {
    planPath,
    schema,
    tables: tables.map((t) => {
      const p = placement(t.name)
      const d = dist(t.name)
      return { name: t.name, placement: p, ...(d ? { column: d.column, colocate: d.colocate } : {}) }
    }),
    findings,
    breaking: findings.filter((f) => f.acceptedAs === undefined),
    staleAccepted: Object.keys(plan.accepted).filter((id) => !ids.has(id)),
    absentTables: [...Object.keys(plan.distributed), ...plan.reference, ...plan.local].filter((t) => !present.has(t)),
  }
}
