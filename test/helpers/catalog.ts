// A snapshot of everything a migration can create in one schema, as sorted text lines, so
// "apply then roll back" can be checked for an exact return to the previous state.
// Independent of src/migrate's catalog code on purpose: the history test then checks the
// down scripts with a second pair of eyes.
import pg from 'pg'

const QUERIES: Record<string, string> = {
  table: `
    SELECT c.relname || ' kind=' || c.relkind::text AS line
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`,
  column: `
    SELECT c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' not null' ELSE ' null' END
           || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
           || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END
           || ' #' || a.attnum AS line
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped`,
  constraint: `
    SELECT c.relname || ' ' || k.conname || ': ' || pg_get_constraintdef(k.oid)
           || CASE WHEN k.condeferrable THEN ' deferrable' ELSE '' END AS line
      FROM pg_constraint k
      JOIN pg_class c ON c.oid = k.conrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1`,
  index: `
    SELECT pg_get_indexdef(i.indexrelid) AS line
      FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1`,
  trigger: `
    SELECT pg_get_triggerdef(t.oid) || CASE t.tgenabled WHEN 'O' THEN '' ELSE ' enabled=' || t.tgenabled::text END AS line
      FROM pg_trigger t
      JOIN pg_class c ON c.oid = t.tgrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND NOT t.tgisinternal`,
  function: `
    SELECT pg_get_functiondef(p.oid) AS line
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = $1 AND p.prokind IN ('f', 'p')`,
  enum: `
    SELECT t.typname || ' = ' || string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder) AS line
      FROM pg_type t
      JOIN pg_enum e ON e.enumtypid = t.oid
      JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE n.nspname = $1
     GROUP BY t.typname`,
  type: `
    SELECT t.typname || ' typtype=' || t.typtype::text AS line
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE n.nspname = $1 AND t.typtype IN ('e', 'd', 'c', 'r')
       AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid AND c.relkind <> 'c')`,
  sequence: `
    SELECT c.relname || ' ' || format_type(s.seqtypid, NULL) || ' start ' || s.seqstart || ' inc ' || s.seqincrement
           || coalesce(' owned by ' || oc.relname || '.' || oa.attname, '') AS line
      FROM pg_sequence s
      JOIN pg_class c ON c.oid = s.seqrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
      LEFT JOIN pg_class oc ON oc.oid = d.refobjid
      LEFT JOIN pg_attribute oa ON oa.attrelid = d.refobjid AND oa.attnum = d.refobjsubid
     WHERE n.nspname = $1`,
  comment: `
    SELECT coalesce(c.relname, p.proname, t.typname, '?') || ': ' || d.description AS line
      FROM pg_description d
      LEFT JOIN pg_class c ON d.classoid = 'pg_class'::regclass AND c.oid = d.objoid
      LEFT JOIN pg_proc p ON d.classoid = 'pg_proc'::regclass AND p.oid = d.objoid
      LEFT JOIN pg_type t ON d.classoid = 'pg_type'::regclass AND t.oid = d.objoid
      JOIN pg_namespace n ON n.oid = coalesce(c.relnamespace, p.pronamespace, t.typnamespace)
     WHERE n.nspname = $1`,
}

/** Sorted `kind: definition` lines for every object in `schema` (default: the current schema). */
export async function snapshotCatalog(url: string, schema?: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const ns = schema ?? ((await client.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]!.s)
    const lines: string[] = []
    for (const [kind, sql] of Object.entries(QUERIES)) {
      for (const row of (await client.query<{ line: string }>(sql, [ns])).rows) lines.push(`${kind}: ${row.line}`)
    }
    return lines.sort()
  } finally {
    await client.end()
  }
}
