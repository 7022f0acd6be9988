// A comparable picture of one schema's catalog: every object keyed by kind
// and name, with its definition as PostgreSQL prints it. Two snapshots that
// are equal mean the schema has the same structure (not the same data).
import type pg from 'pg'
import { connect } from './connection.ts'
import { HISTORY_TABLE } from './history.ts'

export type CatalogObjectKind = 'table' | 'column' | 'constraint' | 'index' | 'trigger' | 'function' | 'type' | 'sequence' | 'view' | 'extension' | 'comment'

export interface CatalogObject {
  kind: CatalogObjectKind
  /** `users`, `users.email`, `users.users_pkey`, `set_updated_at(...)`; for a comment, the key of
   *  the object it is on (`column users.email`). */
  name: string
  definition: string
  /** Tables only: column names in order (`SELECT *`, COPY and introspection depend on it). */
  columns?: string[]
}

/** Objects keyed `<kind> <name>`, sorted. */
export type CatalogSnapshot = Map<string, CatalogObject>

export interface CatalogDifference {
  kind: CatalogObjectKind
  name: string
  change: 'added' | 'removed' | 'changed'
  before?: string
  after?: string
}

export interface ColumnInfo {
  attnum: number
  name: string
  type: string
}

export interface RelationInfo {
  oid: number
  schema: string
  name: string
  /** 'r' table, 'p' partitioned table, 'm' materialized view. */
  kind: string
  /** Where its rows are stored: changes with TRUNCATE, a rewrite, or (partitioned) a partition's. */
  storage: string
  /** The relations that hold its rows: itself, or a partitioned table's leaf partitions. */
  leaves: number[]
  columns: ColumnInfo[]
}

/**
 * The tables that hold rows, with their columns: what the loss report and
 * the census count. One schema, or (`schema` undefined) every user schema;
 * `_prisma_migrations` left out. A partitioned table is one table (its
 * partitions' rows are its rows); tables commented `watify:internal` hold
 * derived rows (lookup tables kept by triggers) and are left out.
 */
export async function readRelations(client: pg.Client, scope: { schema?: string } = {}): Promise<RelationInfo[]> {
  const r = await client.query<{ oid: string; schema: string; name: string; kind: string; storage: string; leaves: string[]; cols: Array<{ n: number; name: string; type: string }> | null }>(
    `SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
            CASE c.relkind WHEN 'p' THEN coalesce((SELECT string_agg(l.relfilenode::text, ',' ORDER BY l.oid) FROM pg_partition_tree(c.oid) t JOIN pg_class l ON l.oid = t.relid WHERE t.isleaf), '')
                           ELSE c.relfilenode::text END AS storage,
            CASE c.relkind WHEN 'p' THEN array(SELECT t.relid::int8::text FROM pg_partition_tree(c.oid) t WHERE t.isleaf) ELSE ARRAY[c.oid::int8::text] END AS leaves,
            (SELECT json_agg(json_build_object('n', a.attnum, 'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
               FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS cols
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition AND c.relname <> $1
        AND coalesce(obj_description(c.oid, 'pg_class'), '') NOT LIKE 'watify:internal%'
        AND ($2::text IS NULL AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' OR n.nspname = $2)
      ORDER BY 2, 3`,
    [HISTORY_TABLE, scope.schema ?? null],
  )
  return r.rows.map((x) => ({ oid: Number(x.oid), schema: x.schema, name: x.name, kind: x.kind, storage: x.storage, leaves: x.leaves.map(Number), columns: (x.cols ?? []).map((c) => ({ attnum: c.n, name: c.name, type: c.type })) }))
}

const QUERIES: Array<[CatalogObjectKind, string]> = [
  ['table', `SELECT c.relname AS name, CASE c.relkind WHEN 'p' THEN 'partitioned table' WHEN 'f' THEN 'foreign table' ELSE 'table' END AS def,
          array(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS columns
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'f') AND c.relname <> $2`],
  ['column', `SELECT c.relname || '.' || a.attname AS name,
          format_type(a.atttypid, a.atttypmod)
          || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
          || CASE WHEN a.attidentity <> '' THEN ' GENERATED ' || CASE a.attidentity WHEN 'a' THEN 'ALWAYS' ELSE 'BY DEFAULT' END || ' AS IDENTITY' ELSE '' END
          || CASE WHEN a.attgenerated = 's' THEN ' GENERATED ALWAYS AS (' || pg_get_expr(d.adbin, d.adrelid) || ') STORED'
                  WHEN d.adbin IS NOT NULL THEN ' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid) ELSE '' END
          || CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN ' COLLATE ' || (SELECT collname FROM pg_collation WHERE oid = a.attcollation) ELSE '' END AS def
     FROM pg_attribute a
     JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_type t ON t.oid = a.atttypid
     LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'f', 'v', 'm') AND c.relname <> $2 AND a.attnum > 0 AND NOT a.attisdropped`],
  ['constraint', `SELECT c.relname || '.' || k.conname AS name, pg_get_constraintdef(k.oid) AS def
     FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1 AND c.relname <> $2`],
  ['index', `SELECT i.relname AS name, pg_get_indexdef(i.oid) AS def
     FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
     JOIN pg_namespace n ON n.oid = i.relnamespace
    WHERE n.nspname = $1 AND c.relname <> $2`],
  ['trigger', `SELECT c.relname || '.' || t.tgname AS name,
          pg_get_triggerdef(t.oid) || CASE t.tgenabled WHEN 'D' THEN ' (disabled)' WHEN 'R' THEN ' (enabled replica)' WHEN 'A' THEN ' (enabled always)' ELSE '' END AS def
     FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1 AND NOT t.tgisinternal AND c.relname <> $2`],
  ['function', `SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS name, pg_get_functiondef(p.oid) AS def
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = $1 AND p.prokind IN ('f', 'p') AND $2 <> ''
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')`],
  ['type', `SELECT t.typname AS name,
          CASE t.typtype
            WHEN 'e' THEN 'enum (' || (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) || ')'
            WHEN 'r' THEN 'range (' || (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid) || ')'
            WHEN 'd' THEN 'domain ' || format_type(t.typbasetype, t.typtypmod) || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
              || coalesce((SELECT ' ' || string_agg(pg_get_constraintdef(k.oid), ' ' ORDER BY k.conname) FROM pg_constraint k WHERE k.contypid = t.oid), '')
            ELSE 'composite (' || (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) || ')'
          END AS def
     FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = $1 AND $2 <> ''
      AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')`],
  ['sequence', `SELECT s.sequencename AS name,
          s.data_type::text || ' start ' || s.start_value || ' increment ' || s.increment_by || ' min ' || s.min_value || ' max ' || s.max_value
          || CASE WHEN s.cycle THEN ' cycle' ELSE '' END
          || coalesce((SELECT ' owned by ' || c.relname || '.' || a.attname FROM pg_depend d JOIN pg_class c ON c.oid = d.refobjid
                         JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = (quote_ident(s.schemaname) || '.' || quote_ident(s.sequencename))::regclass
                          AND d.deptype IN ('a', 'i') LIMIT 1), '') AS def
     FROM pg_sequences s WHERE s.schemaname = $1 AND $2 <> ''`],
  ['view', `SELECT c.relname AS name, CASE c.relkind WHEN 'm' THEN 'materialized ' ELSE '' END || 'view: ' || pg_get_viewdef(c.oid) AS def
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1 AND c.relkind IN ('v', 'm') AND $2 <> ''`],
  // Its member functions and types are left out above, so a forgotten DROP EXTENSION shows here.
  ['extension', `SELECT e.extname AS name, 'extension version ' || e.extversion AS def
     FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE n.nspname = $1 AND $2 <> ''`],
  // COMMENT ON, named by the key of the object it is on (extension members' comments excluded).
  ['comment', `SELECT CASE WHEN d.objsubid > 0 THEN 'column ' || c.relname || '.' || a.attname
                   ELSE CASE WHEN c.relkind IN ('r', 'p', 'f') THEN 'table ' WHEN c.relkind IN ('v', 'm') THEN 'view '
                             WHEN c.relkind IN ('i', 'I') THEN 'index ' WHEN c.relkind = 'S' THEN 'sequence ' ELSE c.relkind::text || ' ' END || c.relname END AS name,
          d.description AS def
     FROM pg_description d JOIN pg_class c ON c.oid = d.objoid JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid
    WHERE d.classoid = 'pg_class'::regclass AND n.nspname = $1 AND c.relname <> $2
   UNION ALL
   SELECT 'function ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', d.description
     FROM pg_description d JOIN pg_proc p ON p.oid = d.objoid JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE d.classoid = 'pg_proc'::regclass AND n.nspname = $1
      AND NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = 'pg_proc'::regclass AND x.objid = p.oid AND x.deptype = 'e')
   UNION ALL
   SELECT 'type ' || t.typname, d.description
     FROM pg_description d JOIN pg_type t ON t.oid = d.objoid JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE d.classoid = 'pg_type'::regclass AND n.nspname = $1
      AND NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = 'pg_type'::regclass AND x.objid = t.oid AND x.deptype = 'e')
   UNION ALL
   SELECT 'constraint ' || coalesce(c.relname, t.typname) || '.' || k.conname, d.description
     FROM pg_description d JOIN pg_constraint k ON k.oid = d.objoid JOIN pg_namespace n ON n.oid = k.connamespace
     LEFT JOIN pg_class c ON c.oid = k.conrelid LEFT JOIN pg_type t ON t.oid = k.contypid
    WHERE d.classoid = 'pg_constraint'::regclass AND n.nspname = $1 AND c.relname IS DISTINCT FROM $2
   UNION ALL
   SELECT 'trigger ' || c.relname || '.' || g.tgname, d.description
     FROM pg_description d JOIN pg_trigger g ON g.oid = d.objoid JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE d.classoid = 'pg_trigger'::regclass AND n.nspname = $1 AND c.relname <> $2`],
]

/** Snapshot of `schema` (default: the URL's schema) on an open client or a URL; `_prisma_migrations` excluded. */
export async function snapshotCatalog(db: pg.Client | string, schema?: string): Promise<CatalogSnapshot> {
  if (typeof db === 'string') {
    const conn = await connect(db)
    try {
      return await snapshotCatalog(conn.client, schema ?? conn.target.schema)
    } finally {
      await conn.close()
    }
  }
  const ns = schema ?? (await db.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]!.s
  const objects: CatalogObject[] = []
  for (const [kind, sql] of QUERIES) {
    const r = await db.query<{ name: string; def: string; columns?: string[] }>(sql, [ns, HISTORY_TABLE])
    for (const row of r.rows) objects.push({ kind, name: row.name, definition: row.def, ...(row.columns ? { columns: row.columns } : {}) })
  }
  objects.sort((a, b) => (a.kind === b.kind ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.kind < b.kind ? -1 : 1))
  return new Map(objects.map((o) => [`${o.kind} ${o.name}`, o]))
}

/** What differs going from `before` to `after`, named by object. */
/**
 * Columns (`table.column`) present in `before`, gone in `dropped`: a down that
 * restores them can only add them at the end of their table (PostgreSQL has no
 * column positions to insert at), so their place is left out of the order check.
 */
export function droppedColumns(before: CatalogSnapshot, dropped: CatalogSnapshot): Set<string> {
  const out = new Set<string>()
  for (const [key, o] of before) if (o.kind === 'column' && !dropped.has(key)) out.add(o.name)
  return out
}

export function diffCatalogs(before: CatalogSnapshot, after: CatalogSnapshot, opts: { readdedColumns?: Set<string> } = {}): CatalogDifference[] {
  const out: CatalogDifference[] = []
  // A comment goes and comes with its object: the object's own difference already names it.
  const withItsObject = (o: CatalogObject) => o.kind === 'comment' && before.has(o.name) !== after.has(o.name)
  for (const [key, b] of before) {
    const a = after.get(key)
    if (!a) {
      if (!withItsObject(b)) out.push({ kind: b.kind, name: b.name, change: 'removed', before: b.definition })
      continue
    }
    const order = columnOrder(b, a, opts.readdedColumns)
    if (a.definition !== b.definition || order) {
      out.push({ kind: b.kind, name: b.name, change: 'changed', before: b.definition + (order?.[0] ?? ''), after: a.definition + (order?.[1] ?? '') })
    }
  }
  for (const [key, a] of after) if (!before.has(key) && !withItsObject(a)) out.push({ kind: a.kind, name: a.name, change: 'added', after: a.definition })
  return out
}

/** The order of the columns both have, when it changed (added or dropped columns are named on their own). */
function columnOrder(b: CatalogObject, a: CatalogObject, readded?: Set<string>): [string, string] | undefined {
  if (!b.columns || !a.columns) return undefined
  const keep = (c: string) => !readded?.has(`${b.name}.${c}`)
  const inA = new Set(a.columns.filter(keep))
  const inB = new Set(b.columns.filter(keep))
  const was = b.columns.filter((c) => inA.has(c)).join(', ')
  const is = a.columns.filter((c) => inB.has(c)).join(', ')
  return was === is ? undefined : [` (columns ${was})`, ` (columns ${is})`]
}

export function describeDifference(d: CatalogDifference): string {
  const what = `${d.kind} \`${d.name}\``
  if (d.change === 'added') return `${what} is left over (not there before)`
  if (d.change === 'removed') return `${what} is missing (was there before)`
  const [was, is] = contrast(d.before!, d.after!)
  return `${what} differs: \`${was}\` became \`${is}\``
}

/** Both on one line, starting near where they part, so a change deep in a long definition shows. */
function contrast(before: string, after: string): [string, string] {
  const [b, a] = [before, after].map((s) => s.replace(/\s+/g, ' ').trim()) as [string, string]
  let i = 0
  while (i < b.length && b[i] === a[i]) i++
  const start = i > 60 ? i - 30 : 0
  const clip = (s: string) => {
    const t = (start ? '...' : '') + s.slice(start)
    return t.length > 120 ? `${t.slice(0, 117)}...` : t
  }
  return [clip(b), clip(a)]
}
