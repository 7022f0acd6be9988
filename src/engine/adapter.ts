// The driver adapter the Wasm schema engine runs on: @prisma/adapter-pg, with
// the three fixes the engine needs:
//  1. catalog columns of type "char" (oid 18) and name[] (oid 1003), which
//     adapter-pg cannot map, are presented as characters and text[];
//  2. scripts run through the project's one runner (src/migrate/runner.ts),
//     exactly as `npm run migrate` runs them;
//  3. the shadow database is created and connected to by us, by rewriting the
//     URL's database name: adapter-pg's own connectToShadowDb() lets the
//     connection string override the database and so points at the MAIN one.
import { randomUUID } from 'node:crypto'

import { PrismaPg } from '@prisma/adapter-pg'
import { ColumnTypeEnum, type SqlDriverAdapter, type SqlMigrationAwareDriverAdapterFactory, type SqlResultSet } from '@prisma/driver-adapter-utils'
import pg from 'pg'

import { PRISMA_ADVISORY_LOCK_ID, PRISMA_ADVISORY_LOCK_SQL, pollAdvisoryLock } from '../db/advisory-lock.ts'
import { LibpqClient } from '../db/pg-client.ts'
import { describeUrl, driverConfig, searchPathOption, withDatabase } from '../db/url.ts'
import { assertPrimary } from '../migrate/connection.ts'
import { assertDirectSession } from '../migrate/lock.ts'
import { prepareScript, ScriptFailed, ScriptRunner } from '../migrate/runner.ts'
import { quoteIdent } from '../sql/split.ts'
import { hidePartitions } from './partitions.ts'

const OID_REMAP = new Map<number, number>([
  [18, 25], // "char" -> text
  [1003, 1009], // name[] -> text[]
])

const CHAR_OID = 18
/** Marks, on a result's rows array, which columns were "char": queryRaw keeps that array. */
const CHAR_COLUMNS = Symbol('charColumns')

type Field = { dataTypeID: number }
function remapFields<T>(result: T): T {
  const results = Array.isArray(result) ? result : [result]
  for (const r of results as Array<{ fields?: Field[]; rows?: unknown[] } | undefined>) {
    const charColumns: number[] = []
    r?.fields?.forEach((f, i) => {
      if (f.dataTypeID === CHAR_OID) charColumns.push(i)
      const to = OID_REMAP.get(f.dataTypeID)
      if (to !== undefined) f.dataTypeID = to
    })
    if (charColumns.length && r?.rows) Object.defineProperty(r.rows, CHAR_COLUMNS, { value: charColumns })
  }
  return result
}

// The engine reads "char" catalog columns (contype, confdeltype, ...) as
// single characters: report them as ColumnTypeEnum.Character, which
// adapter-pg never produces for a scalar.
let queryRawPatched = false
function patchQueryRaw(adapter: SqlDriverAdapter): void {
  if (queryRawPatched) return
  const queryable = Object.getPrototypeOf(Object.getPrototypeOf(adapter)) as { queryRaw(q: unknown): Promise<SqlResultSet> }
  const original = queryable.queryRaw
  queryable.queryRaw = async function (this: unknown, q: unknown) {
    const result = await original.call(this, q)
    const charColumns = (result.rows as unknown as { [CHAR_COLUMNS]?: number[] })[CHAR_COLUMNS]
    for (const i of charColumns ?? []) result.columnTypes[i] = ColumnTypeEnum.Character
    return result
  }
  queryRawPatched = true
}

/**
 * The engine takes the migration lock with a blocking `pg_advisory_lock`; a
 * session waiting in it would deadlock with another deploy's CREATE INDEX
 * CONCURRENTLY (see src/db/advisory-lock.ts). So the lock is first polled on
 * the same session (the pool has one connection); the engine's own statement
 * then returns at once, and the extra hold it adds is released. After the
 * engine's 10 s, its own statement waits and times out as it always did.
 */
function pollForMigrationLock(adapter: SqlDriverAdapter, pool: pg.Pool): void {
  for (const method of ['queryRaw', 'executeRaw'] as const) {
    const original = (adapter[method] as (q: { sql: string }) => Promise<unknown>).bind(adapter)
    ;(adapter as unknown as Record<string, unknown>)[method] = async (q: { sql: string }) => {
      if (q.sql.trim() !== PRISMA_ADVISORY_LOCK_SQL) return original(q)
      const polled = await pollAdvisoryLock((sql, values) => pool.query(sql, values), 10_000)
      const result = await original(q)
      if (polled) await pool.query('SELECT pg_advisory_unlock($1)', [PRISMA_ADVISORY_LOCK_ID])
      return result
    }
  }
}

class CatalogSafeClient extends LibpqClient {
  // pg.Pool calls query() with a callback; adapter transactions call it without.
  override query(...args: unknown[]): any {
    const last = args[args.length - 1]
    if (typeof last === 'function') {
      args[args.length - 1] = (err: unknown, res: unknown) => (last as (e: unknown, r: unknown) => void)(err, err ? res : remapFields(res))
      return (super.query as (...a: unknown[]) => unknown)(...args)
    }
    const out = (super.query as (...a: unknown[]) => unknown)(...args)
    return out instanceof Promise ? out.then(remapFields) : out
  }
}

export interface ConnectionTarget {
  /** pg config for the database */
  config: pg.PoolConfig
  /** schema the engine works in (from ?schema=, default public) */
  schema: string
}

/** The URL as Prisma reads it: `?schema=` picks the schema (via search_path). */
export function connectionTarget(url: string): ConnectionTarget {
  const { schema } = describeUrl(url)
  const config = {
    ...driverConfig(url, { options: searchPathOption(schema) }),
    Client: CatalogSafeClient,
    // one session, like the native engine: advisory lock and script share it
    max: 1,
    // never closed for idling (pg.Pool's default is 10 s): it may hold the migration lock between two engine requests
    idleTimeoutMillis: 0,
  } as pg.PoolConfig
  return { config, schema }
}

export function databaseName(url: string): string {
  return describeUrl(url).database
}

/** Runs one statement on a short-lived connection outside the engine's pool. */
export function adminQuery(url: string, sql: string): Promise<pg.QueryResult> {
  return withClient(url, (client) => client.query(sql))
}

/** Opens a client, runs `fn`, and closes the client whatever happens, a failed connect included. */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new LibpqClient(driverConfig(url) as pg.ClientConfig)
  // A connection dropped while idle must not crash the process through an unhandled 'error' event.
  client.on('error', () => {})
  try {
    await client.connect()
    return await fn(client)
  } finally {
    await client.end().catch(() => {})
  }
}

/**
 * The checks our migration commands make before a schema change (src/migrate):
 * `url` must reach PostgreSQL itself, not a pooler (the migration lock is a
 * session lock), and not a standby. `direct: false` checks the standby only
 * (reading the history is fine through a pooler).
 */
export async function assertSchemaTarget(url: string, opts: { direct: boolean }): Promise<void> {
  const { host, port } = describeUrl(url)
  await withClient(url, async (client) => {
    if (opts.direct) await assertDirectSession(client)
    await assertPrimary(client, `${host}:${port}`)
  })
}

/** `prisma_shadow_<main database, shortened>_<random>`: at most 63 bytes, PostgreSQL's limit. */
export function shadowDatabaseName(mainDatabase: string): string {
  const stem = mainDatabase.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 36)
  return `prisma_shadow_${stem}_${randomUUID().slice(0, 8)}`
}

export interface ScriptError {
  error: Error & { position?: string; code?: string }
  script: string
}

export interface EngineAdapter {
  factory: SqlMigrationAwareDriverAdapterFactory
  /** The last error a script (a migration) failed with in this request, for P3018 reporting. */
  lastScriptError(): ScriptError | undefined
  /** Forgets it: called at the start of each request. */
  resetScriptError(): void
  /** Drops every shadow database this process created and has not dropped yet. */
  cleanup(): Promise<void>
}

/** A second session that names who blocks a lock wait. */
async function openWatcher(url: string): Promise<{ client: pg.Client; close(): Promise<void> }> {
  const client = new LibpqClient(driverConfig(url) as pg.ClientConfig)
  client.on('error', () => {})
  await client.connect()
  return { client, close: () => client.end().catch(() => {}) }
}

/**
 * Runs a migration script through the project's one runner, as `npm run
 * migrate` does: in one transaction (or statement by statement when it
 * declares `-- watify:no-transaction`), with the same session baseline,
 * time-outs, lock retries and INVALID-index rebuild. Returns the error to
 * hand the engine, its position made relative to the whole script so the
 * engine's P3018 names the statement.
 */
async function executeScript(pool: pg.Pool, url: string, script: string): Promise<ScriptError['error'] | undefined> {
  const client = await pool.connect()
  try {
    const runner = new ScriptRunner(client, { openWatcher: () => openWatcher(url) })
    const prepared = prepareScript('migration.sql', script)
    const outcome =
      prepared.mode === 'statements'
        ? await runner.run(prepared)
        : await runner.unit('The migration', async () => {
            await client.query('BEGIN')
            const o = await runner.run(prepared)
            if (!o.failure) {
              await client.query('COMMIT')
              return o
            }
            await client.query('ROLLBACK')
            await runner.restore()
            if (o.failure.kind === 'lock-timeout' || o.failure.kind === 'statement-timeout') throw new ScriptFailed({ ...o, failure: o.failure })
            return o
          })
    const f = outcome.failure
    if (!f) return undefined
    const e = (f.cause instanceof Error ? f.cause : new Error(f.message)) as ScriptError['error']
    const st = f.statement ? prepared.statements[f.statement.index - 1] : undefined
    if (st) e.position = String([...script.slice(0, st.start)].length + (Number(e.position) > 0 ? Number(e.position) : 1))
    return e
  } catch (err) {
    // A time-out after its retries (the runner's MigrateError, with the limit in force) or a refused script.
    const e = new Error((err as Error).message) as ScriptError['error']
    const cause = (err as { cause?: { code?: string } }).cause
    if (cause?.code) e.code = cause.code
    return e
  } finally {
    client.release()
  }
}

export function createEngineAdapter(datasource: { url?: string; shadowDatabaseUrl?: string }): EngineAdapter {
  let lastScriptError: ScriptError | undefined
  const liveShadows = new Map<string, () => Promise<void>>()

  async function open(url: string, onDispose?: () => Promise<void>): Promise<SqlDriverAdapter> {
    const target = connectionTarget(url)
    const pool = new pg.Pool(target.config)
    const factory = new PrismaPg(pool, { schema: target.schema, disposeExternalPool: true })
    const adapter = await factory.connect()
    patchQueryRaw(adapter)
    pollForMigrationLock(adapter, pool)
    hidePartitions(adapter) // partitions and lookup tables out of Prisma's view: partitions.ts
    const onError = (adapter as unknown as { onError(e: unknown): never }).onError.bind(adapter)
    adapter.executeScript = async (script: string) => {
      const failure = await executeScript(pool, url, script)
      if (failure) {
        lastScriptError = { error: failure, script }
        onError(failure)
      }
    }
    if (onDispose) {
      const dispose = adapter.dispose.bind(adapter)
      adapter.dispose = async () => {
        await dispose()
        await onDispose()
      }
    }
    return adapter
  }

  const factory: SqlMigrationAwareDriverAdapterFactory = {
    provider: 'postgres',
    adapterName: '@prisma/adapter-pg',
    async connect() {
      if (!datasource.url) throw new Error('No database URL: set `datasource.url` in prisma.config.ts or DATABASE_URL.')
      return open(datasource.url)
    },
    async connectToShadowDb() {
      if (datasource.shadowDatabaseUrl) return open(datasource.shadowDatabaseUrl)
      if (!datasource.url) throw new Error('No database URL to create a shadow database next to.')
      const main = datasource.url
      // Named after the main database so a leftover (from a killed process) says whose it is.
      const name = shadowDatabaseName(databaseName(main))
      await adminQuery(main, `CREATE DATABASE ${quoteIdent(name)}`)
      let dropped = false
      const drop = async () => {
        if (dropped) return
        dropped = true
        liveShadows.delete(name)
        await adminQuery(main, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`)
      }
      liveShadows.set(name, drop)
      const shadowUrl = withDatabase(main, name)
      // Refuse to hand the engine anything but the database we just created.
      const check = await adminQuery(shadowUrl, 'SELECT current_database() AS db')
      if (check.rows[0]?.db !== name) {
        await drop()
        throw new Error(`Shadow database connection reached \`${check.rows[0]?.db}\` instead of \`${name}\`; refusing to continue.`)
      }
      return open(shadowUrl, drop)
    },
  }

  return {
    factory,
    lastScriptError: () => lastScriptError,
    resetScriptError: () => {
      lastScriptError = undefined
    },
    async cleanup() {
      await Promise.allSettled([...liveShadows.values()].map((drop) => drop()))
    },
  }
}
