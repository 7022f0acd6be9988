// What Prisma's schema engine sees of a partitioned table: the table, never its partitions.
// The engine's describer (sql-schema-describer, postgres.rs) lists tables with one query and
// then fetches columns, indexes, constraints and foreign keys for every relation of the
// schema, skipping rows of tables that query did not list. So hiding a relation from the
// tables query hides all of it. Hidden:
//  - partitions (relispartition): made at runtime by `npm run messages:partitions`, never in
//    schema.prisma; listed, `migrate dev` would generate a DROP TABLE for each (prisma#13407);
//  - tables whose comment starts with `watify:internal` (the unique rules' lookup tables of
//    010, kept by triggers like the counter shards' rows, not part of the data model).
// And a partitioned index whose comment starts with `watify:unique` is shown as unique: its
// rule is enforced by a lookup table and a trigger (a partitioned unique index would have to
// include the partition key), so schema.prisma keeps its @@unique and the typed client its
// findUnique. The partitioned table itself is shown as a plain table (not `is_partition`), so
// `db pull` writes the model as it is, without the partition-table warning comment.
import type { SqlDriverAdapter, SqlQuery, SqlResultSet } from '@prisma/driver-adapter-utils'

const HIDDEN_SQL = `
SELECT n.nspname AS namespace, c.relname AS name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND (c.relispartition OR obj_description(c.oid, 'pg_class') LIKE 'watify:internal%')`

const UNIQUE_SQL = `
SELECT n.nspname AS namespace, c.relname AS name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'I' AND obj_description(c.oid, 'pg_class') LIKE 'watify:unique%'`

type Query = (q: SqlQuery) => Promise<SqlResultSet>

/** The describer's tables query (tables_query.sql): it reports is_partition and has_subclass. */
function isTablesQuery(sql: string): boolean {
  return /\bas is_partition\b/i.test(sql) && /\bhas_subclass\b/i.test(sql) && /\bpg_class\b/i.test(sql)
}

/** The describer's indexes query (indexes_query.sql). */
function isIndexesQuery(sql: string): boolean {
  return /\bAS is_unique\b/i.test(sql) && /\bindisunique\b/i.test(sql)
}

async function names(query: Query, sql: string): Promise<Set<string>> {
  const r = await query({ sql, args: [], argTypes: [] } as unknown as SqlQuery)
  return new Set(r.rows.map((row) => `${row[0]}.${row[1]}`))
}

/** Rewrites, in place, the rows the describer reads; other queries pass through. */
export async function describePartitionedTables(query: Query, q: SqlQuery): Promise<SqlResultSet> {
  const result = await query(q)
  if (isTablesQuery(q.sql)) {
    const col = (name: string) => result.columnNames.indexOf(name)
    const [ns, table, part, sub] = [col('namespace'), col('table_name'), col('is_partition'), col('has_subclass')]
    if (ns < 0 || table < 0) return result
    const hidden = await names(query, HIDDEN_SQL)
    result.rows = result.rows.filter((row) => !hidden.has(`${row[ns]}.${row[table]}`))
    for (const row of result.rows) {
      if (part >= 0) row[part] = false
      if (sub >= 0) row[sub] = false
    }
  } else if (isIndexesQuery(q.sql)) {
    const col = (name: string) => result.columnNames.indexOf(name)
    const [ns, index, unique] = [col('namespace'), col('index_name'), col('is_unique')]
    if (ns < 0 || index < 0 || unique < 0) return result
    const shownUnique = await names(query, UNIQUE_SQL)
    for (const row of result.rows) if (shownUnique.has(`${row[ns]}.${row[index]}`)) row[unique] = true
  }
  return result
}

/** Installs the rewrite on the engine's adapter (its top-level queryRaw). */
export function hidePartitions(adapter: SqlDriverAdapter): void {
  const original: Query = adapter.queryRaw.bind(adapter)
  adapter.queryRaw = (q: SqlQuery) => describePartitionedTables(original, q)
}
