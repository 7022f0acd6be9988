// How the hot-path functions reach PostgreSQL.
//
// Every function in src/api runs fixed, hand-written SQL (constant text, bound
// parameters: never string-built from input). It can go two ways:
//  - through Prisma (`prisma.$queryRawUnsafe`): one client, works inside the
//    app's usual setup, costs Prisma's per-call overhead (~0.3-0.5 ms here);
//  - through the pg Pool that backs Prisma's adapter: the driver's own speed.
//    Latency-bound paths (webhooks, dashboards, history) need this to stay
//    within 1.2x of raw SQL. Statements are named (prepared once per server
//    connection) unless the pool goes through a transaction pooler
//    (`pgbouncer=true` in the URL): a pooler hands each transaction another
//    server connection, where the name is missing or already taken, so there
//    they go unnamed (parsed each time, as Prisma's own queries are).
// Same SQL, same typed results either way; see docs/performance.md.
import type pg from 'pg'

import { ValidationError } from '../domain/errors.ts'
import type { PrismaClient } from '../generated/prisma/client.ts'

/** A fixed SQL statement with a stable name (the prepared-statement name on a pool). */
export interface Statement {
  name: string
  text: string
}

/** Prisma client or interactive-transaction client: anything with $queryRawUnsafe. */
export type PrismaQueryable = Pick<PrismaClient, '$queryRawUnsafe'>

/**
 * What the API functions accept: the PrismaClient alone, or the PrismaClient
 * together with the pg.Pool it was built on (`new PrismaPg(pool)`): the fast path.
 */
export type ApiDb = PrismaClient | ApiPoolDb

export interface ApiPoolDb {
  prisma: PrismaClient
  pool: pg.Pool
  /** Named prepared statements (default true). False behind a transaction pooler such as PgBouncer: see usesNamedStatements() in src/db/config.ts. */
  namedStatements?: boolean
  /**
   * Where read-only calls go (campaignPerformance, audienceSize, subscriberHistory): the
   * RoutedReadPool of src/db/replicas.ts when DATABASE_REPLICA_URLS is set; absent, `pool`.
   * It drops statement names per server itself (pooler flags per URL).
   */
  readPool?: pg.Pool
}

export interface Executor {
  readonly kind: 'pool' | 'prisma'
  rows<R>(stmt: Statement, params: readonly unknown[]): Promise<R[]>
  /** A read-only statement outside any transaction: may be served by a read replica. */
  read<R>(stmt: Statement, params: readonly unknown[]): Promise<R[]>
  /** Runs fn in one transaction (READ COMMITTED); every statement in it sees the rows committed before it started. */
  transaction<T>(fn: (ex: Executor) => Promise<T>, opts?: { timeoutMs?: number }): Promise<T>
}

function isPair(db: ApiDb): db is ApiPoolDb {
  return typeof db === 'object' && db !== null && 'pool' in db && 'prisma' in db
}

export function executorFor(db: ApiDb): Executor {
  return isPair(db) ? poolExecutor(db.pool, { namedStatements: db.namedStatements ?? true, ...(db.readPool ? { readPool: db.readPool } : {}) }) : prismaExecutor(db)
}

// 42P05 duplicate_prepared_statement, 26000 invalid_sql_statement_name: what a
// named statement meets on a server connection shared through a transaction pooler.
const POOLER_STATEMENT_ERRORS = new Set(['42P05', '26000'])

async function runStatement<R>(q: pg.Pool | pg.PoolClient, named: boolean, stmt: Statement, params: readonly unknown[]): Promise<R[]> {
  try {
    return (await q.query(named ? { name: stmt.name, text: stmt.text, values: params as unknown[] } : { text: stmt.text, values: params as unknown[] })).rows as R[]
  } catch (err) {
    if (named && POOLER_STATEMENT_ERRORS.has((err as { code?: string }).code ?? '')) {
      throw new Error(
        `${(err as Error).message}: the database URL seems to go through a transaction pooler (PgBouncer), where named prepared statements do not work. Add \`pgbouncer=true\` to DATABASE_URL (e.g. postgresql://user:password@pooler:6432/watify?pgbouncer=true)`,
        { cause: err },
      )
    }
    throw err
  }
}

function poolClientExecutor(client: pg.PoolClient, named: boolean): Executor {
  return {
    kind: 'pool',
    rows: <R>(stmt: Statement, params: readonly unknown[]) => runStatement<R>(client, named, stmt, params),
    read: <R>(stmt: Statement, params: readonly unknown[]) => runStatement<R>(client, named, stmt, params),
    transaction: (fn) => fn(poolClientExecutor(client, named)), // already inside one
  }
}

export function poolExecutor(pool: pg.Pool, opts: { namedStatements?: boolean; readPool?: pg.Pool } = {}): Executor {
  const named = opts.namedStatements ?? true
  const readPool = opts.readPool
  return {
    kind: 'pool',
    rows: <R>(stmt: Statement, params: readonly unknown[]) => runStatement<R>(pool, named, stmt, params),
    read: <R>(stmt: Statement, params: readonly unknown[]) => (readPool ? runStatement<R>(readPool, true, stmt, params) : runStatement<R>(pool, named, stmt, params)),
    async transaction<T>(fn: (ex: Executor) => Promise<T>) {
      const client = await pool.connect()
      let broken: unknown
      try {
        await client.query('BEGIN')
        const result = await fn(poolClientExecutor(client, named))
        await client.query('COMMIT')
        return result
      } catch (err) {
        try {
          await client.query('ROLLBACK')
        } catch (rollbackErr) {
          broken = rollbackErr // the connection is unusable: destroy it rather than return it to the pool
        }
        throw err
      } finally {
        client.release(broken instanceof Error ? broken : undefined)
      }
    },
  }
}

function prismaQueryableExecutor(q: PrismaQueryable): Executor {
  return {
    kind: 'prisma',
    rows<R>(stmt: Statement, params: readonly unknown[]) {
      return q.$queryRawUnsafe<R[]>(stmt.text, ...params)
    },
    read<R>(stmt: Statement, params: readonly unknown[]) {
      return q.$queryRawUnsafe<R[]>(stmt.text, ...params)
    },
    transaction: (fn) => fn(prismaQueryableExecutor(q)),
  }
}

export function prismaExecutor(prisma: PrismaClient): Executor {
  return {
    kind: 'prisma',
    rows<R>(stmt: Statement, params: readonly unknown[]) {
      return prisma.$queryRawUnsafe<R[]>(stmt.text, ...params)
    },
    read<R>(stmt: Statement, params: readonly unknown[]) {
      // A client extended with read replicas (src/db/replicas.ts) has $replica(): raw SQL there is routed like the fast path's reads.
      const replica = (prisma as PrismaClient & { $replica?: () => PrismaQueryable }).$replica
      return (replica ? replica.call(prisma) : prisma).$queryRawUnsafe<R[]>(stmt.text, ...params)
    },
    transaction<T>(fn: (ex: Executor) => Promise<T>, opts: { timeoutMs?: number } = {}) {
      // Prisma's default interactive-transaction timeout (5 s) is far too short for a bulk import or a fan-out.
      return prisma.$transaction((tx) => fn(prismaQueryableExecutor(tx)), { timeout: opts.timeoutMs ?? 600_000, maxWait: 30_000 })
    },
  }
}

/**
 * Errors the API throws for bad input, before anything is sent; `hint` says what to do
 * instead. A ValidationError (src/domain/errors.ts): `rule` is `api_input` unless the input
 * breaks a database rule (then that rule's name), `fields` names the field when there is one.
 */
export class ApiInputError extends ValidationError {
  declare readonly hint: string
  constructor(message: string, hint: string, rule: { rule?: string; fields?: readonly string[]; table?: string } = {}) {
    super(`${message}. ${hint}`, { rule: rule.rule ?? 'api_input', fields: rule.fields ?? [], table: rule.table ?? null, hint })
  }
}

// ---------------------------------------------------------------------------
// Enum values: Prisma's TypeScript enums are the upper-case database labels
// (schema: `DELIVERED @map("delivered")`), so converting is a case change.

export function toDbEnum(value: string): string {
  return value.toLowerCase()
}

export function fromDbEnum<T extends string>(value: string): T {
  return value.toUpperCase() as T
}

/** int8 arrives as a string from pg and as a bigint from Prisma. */
export function toBigInt(value: string | number | bigint): bigint {
  return typeof value === 'bigint' ? value : BigInt(value)
}
