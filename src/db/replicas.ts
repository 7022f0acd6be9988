// Read replicas: which server a read goes to (docs/replicas.md).
//
// DATABASE_REPLICA_URLS (environment, then .env; comma-separated) names streaming standbys.
// Writes, transactions, raw SQL and claimQueuedMessages stay on DATABASE_URL (the primary);
// Prisma's reads (find*, count, aggregate, groupBy) and the api's read-only calls go to a
// replica. Prisma's side is @prisma/extension-read-replicas: it decides which operations are
// reads and keeps transactions on the primary. Its "replica" here is one PrismaClient on a
// RoutedReadPool, where the extension stops and this module starts: per statement it picks a
// replica that is up, lags less than the bound and has replayed every write this process made
// (read-your-writes, by WAL position), else the primary; a replica that fails is retried on
// the primary and skipped until a health check sees it back. The api's fast path reads from
// the same RoutedReadPool, so both paths follow one rule.
import { AsyncLocalStorage } from 'node:async_hooks'

import { PrismaPg } from '@prisma/adapter-pg'
import { readReplicas } from '@prisma/extension-read-replicas'
import pg from 'pg'

import { PrismaClient } from '../generated/prisma/client.ts'
import { configValue } from './config.ts'
import { DatabaseUrlError, describeUrl, driverConfig, maskUrl, searchPathOption, usesNamedStatements } from './url.ts'

export const REPLICA_URLS_VARIABLE = 'DATABASE_REPLICA_URLS'
/** Default bound on a replica's replay lag; beyond it the replica is skipped until it catches up. */
export const DEFAULT_MAX_LAG_MS = 5_000
export const DEFAULT_CHECK_INTERVAL_MS = 1_000

export interface ReplicaSettings {
  urls: string[]
  /** DATABASE_REPLICA_MAX_LAG_MS, default 5000. */
  maxLagMs: number
  /** DATABASE_REPLICA_CHECK_INTERVAL_MS, default 1000: how often each replica's replay position and lag are read. */
  checkIntervalMs: number
}

function msSetting(name: string, fallback: number): number {
  const found = configValue(name)
  if (!found) return fallback
  const n = Number(found.value)
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number of milliseconds (e.g. ${name}=${fallback}), got \`${found.value}\` (${found.source}).`)
  return n
}

/** DATABASE_REPLICA_URLS and its bounds, or null when the variable is unset (then nothing changes). Throws on a URL it cannot read, without printing it. */
export function replicaSettings(): ReplicaSettings | null {
  const found = configValue(REPLICA_URLS_VARIABLE)
  if (!found) return null
  const urls = found.value.split(',').map((u) => u.trim()).filter(Boolean)
  urls.forEach((url, i) => {
    try {
      describeUrl(url)
    } catch (err) {
      const hint = err instanceof DatabaseUrlError ? ` ${err.hint}; a comma inside a URL must be written %2C.` : ''
      throw new Error(`${REPLICA_URLS_VARIABLE} (${found.source}): URL number ${i + 1} cannot be read: ${(err as Error).message}${hint}`, { cause: err })
    }
  })
  if (urls.length === 0) return null
  return { urls, maxLagMs: msSetting('DATABASE_REPLICA_MAX_LAG_MS', DEFAULT_MAX_LAG_MS), checkIntervalMs: msSetting('DATABASE_REPLICA_CHECK_INTERVAL_MS', DEFAULT_CHECK_INTERVAL_MS) }
}

// ---------------------------------------------------------------------------
// WAL positions ('16/B374D848') as numbers.

export function parseLsn(lsn: string): bigint {
  const m = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(lsn.trim())
  if (!m) throw new Error(`Not a WAL position (LSN): \`${lsn}\`; expected the form 16/B374D848`)
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`)
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`
}

// ---------------------------------------------------------------------------
// Request scopes.

interface Scope {
  after: bigint
  primary: boolean
}

const scopes = new AsyncLocalStorage<Scope>()

/**
 * Runs `fn` in a read scope (AsyncLocalStorage: everything `fn` awaits). Within this process
 * every read already follows every write made through the client; a scope adds what a process
 * cannot know by itself: `after`, a token from {@link ReadRouter.writeToken} taken after a write
 * in another request or process (e.g. kept in the user's session), so this request's reads are
 * not older than that write either; or `primary: true`, every read of the scope on the primary.
 * Scopes nest; an inner scope keeps the outer one's requirements.
 */
export function withReadScope<T>(fn: () => T | PromiseLike<T>, opts: { after?: string | null; primary?: boolean } = {}): Promise<T> {
  const outer = scopes.getStore()
  const after = opts.after ? parseLsn(opts.after) : 0n
  // Awaited inside the scope: a Prisma query is lazy and would otherwise run when the caller awaits it, outside.
  return scopes.run({ after: outer && outer.after > after ? outer.after : after, primary: (outer?.primary ?? false) || opts.primary === true }, async () => await fn())
}

// ---------------------------------------------------------------------------

interface Replica {
  label: string
  pool: pg.Pool
  named: boolean
  up: boolean
  checkedAt: number
  replayLsn: bigint | null
  lagMs: number
  lastError?: string
  check?: Promise<void>
}

export interface ReplicaStatus {
  /** The URL, password masked. */
  url: string
  up: boolean
  replayLsn: string | null
  lagMs: number
  lastError?: string
}

/** Where reads went, for tests and the bench. */
export interface ReadCounts {
  replica: number
  primary: number
  /** Reads that failed on a replica (down, or cancelled by recovery) and were run again on the primary. */
  retriedOnPrimary: number
}

// Errors after which the replica is treated as down: pg's connection errors (no SQLSTATE),
// SQLSTATE class 08 (connection exception), 57P01-57P03 (shutdown, cannot connect now), 53300.
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])
function replicaUnavailable(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? ''
  if (NETWORK_CODES.has(code) || code.startsWith('08') || ['57P01', '57P02', '57P03', '53300'].includes(code)) return true
  return !code && /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection timeout/i.test((err as Error).message ?? '')
}
// A standby cancels a query that conflicts with replaying the primary's changes (40001, 40P01
// "canceling statement due to conflict with recovery"): the replica is fine, this read is retried.
function recoveryConflict(err: unknown): boolean {
  const e = err as { code?: string; message?: string }
  return (e.code === '40001' || e.code === '40P01') && /conflict with recovery/i.test(e.message ?? '')
}

const HEALTH_SQL = `SELECT pg_is_in_recovery() AS standby,
  pg_last_wal_replay_lsn()::text AS replay,
  CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
       ELSE COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000, 0) END::float8 AS lag_ms`

type QueryConfig = pg.QueryConfig & { name?: string }

function forTarget(config: string | QueryConfig, named: boolean): string | QueryConfig {
  if (typeof config === 'string' || named || !config.name) return config
  const { name: _name, ...rest } = config
  return rest
}

export interface ReadRouterOptions {
  maxLagMs?: number
  checkIntervalMs?: number
  /** Whether the primary takes named prepared statements (false behind a transaction pooler). */
  primaryNamed?: boolean
}

/**
 * Picks the server for each read. Knows every write made through `primary` (the pool the
 * client writes with): each connection given back to it counts as a write, except the ones
 * this router borrowed for reads, so the next read first learns the primary's WAL insert
 * position (one statement, shared by concurrent reads) and goes to a replica only once it has
 * replayed that far.
 */
export class ReadRouter {
  readonly counts: ReadCounts = { replica: 0, primary: 0, retriedOnPrimary: 0 }
  readonly maxLagMs: number
  private readonly replicas: Replica[]
  private readonly primaryNamed: boolean
  private readonly own = new WeakSet<pg.PoolClient>()
  private writes = 0
  private known = { writes: 0, lsn: 0n }
  private lsnFetch?: { writes: number; promise: Promise<bigint | null> }
  private next = 0
  private readonly timer: NodeJS.Timeout
  private readonly onRelease = (_err: unknown, client: pg.PoolClient) => {
    if (this.own.delete(client)) return
    this.writes++
  }

  constructor(
    readonly primary: pg.Pool,
    replicas: ReadonlyArray<{ url: string; pool: pg.Pool }>,
    opts: ReadRouterOptions = {},
  ) {
    this.maxLagMs = opts.maxLagMs ?? DEFAULT_MAX_LAG_MS
    this.primaryNamed = opts.primaryNamed ?? true
    this.replicas = replicas.map((r) => ({ label: maskUrl(r.url), pool: r.pool, named: usesNamedStatements(r.url), up: false, checkedAt: 0, replayLsn: null, lagMs: 0 }))
    for (const r of this.replicas) r.pool.on('error', () => {}) // an idle connection dropped by a stopped replica must not crash the process
    primary.on('release', this.onRelease)
    this.timer = setInterval(() => {
      for (const r of this.replicas) void this.check(r)
    }, opts.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS)
    this.timer.unref()
  }

  /** Each replica as last checked. */
  status(): ReplicaStatus[] {
    return this.replicas.map((r) => ({ url: r.label, up: r.up, replayLsn: r.replayLsn === null ? null : formatLsn(r.replayLsn), lagMs: r.lagMs, ...(r.lastError ? { lastError: r.lastError } : {}) }))
  }

  /** Checks every replica now (health, replay position, lag). */
  async refresh(): Promise<ReplicaStatus[]> {
    await Promise.all(this.replicas.map((r) => this.check(r)))
    return this.status()
  }

  /**
   * The primary's WAL position covering every write this process has made so far, for
   * {@link withReadScope}'s `after` in a later request, possibly in another process. Null with no writes yet.
   */
  async writeToken(): Promise<string | null> {
    const lsn = await this.writtenLsn()
    return lsn ? formatLsn(lsn) : null
  }

  /** Runs one read statement on the chosen server (RoutedReadPool.query). */
  async read(config: string | QueryConfig, values?: unknown[]): Promise<pg.QueryResult> {
    const target = await this.choose()
    if (target) {
      try {
        const result = await target.pool.query(forTarget(config, target.named) as pg.QueryConfig, values)
        this.counts.replica++
        return result
      } catch (err) {
        if (replicaUnavailable(err)) this.markDown(target, err)
        else if (!recoveryConflict(err)) throw err
        this.counts.retriedOnPrimary++
      }
    }
    this.counts.primary++
    const client = await this.primary.connect()
    this.own.add(client)
    let broken: Error | undefined
    try {
      return await client.query(forTarget(config, this.primaryNamed) as pg.QueryConfig, values)
    } catch (err) {
      if (replicaUnavailable(err)) broken = err as Error
      throw err
    } finally {
      client.release(broken)
    }
  }

  /** A connection for a transaction of reads (Prisma's `$replica().$transaction`): a replica chosen as for a read, else the primary. */
  async connect(): Promise<pg.PoolClient> {
    const target = await this.choose()
    if (target) {
      try {
        return await target.pool.connect()
      } catch (err) {
        if (!replicaUnavailable(err)) throw err
        this.markDown(target, err)
      }
    }
    const client = await this.primary.connect()
    this.own.add(client)
    return client
  }

  async end(): Promise<void> {
    clearInterval(this.timer)
    this.primary.removeListener('release', this.onRelease)
    await Promise.all(this.replicas.map((r) => r.pool.end().catch(() => {})))
  }

  private async choose(): Promise<Replica | null> {
    const scope = scopes.getStore()
    if (scope?.primary) return null
    await Promise.all(this.replicas.filter((r) => r.checkedAt === 0).map((r) => this.check(r)))
    const usable = () => this.replicas.filter((r) => r.up && r.lagMs <= this.maxLagMs)
    if (usable().length === 0) return null
    let need = scope?.after ?? 0n
    if (this.writes > 0) {
      const written = await this.writtenLsn()
      if (written === null) return null // the primary did not answer: the read goes there and says why
      if (written > need) need = written
    }
    const candidates = usable()
    const n = candidates.length
    for (let i = 0; i < n; i++) {
      const r = candidates[(this.next + i) % n]!
      if (need === 0n || (r.replayLsn !== null && r.replayLsn >= need)) {
        this.next = (this.next + i + 1) % n
        return r
      }
    }
    // None known to have replayed that far as of its last check: ask one now.
    const r = candidates[this.next++ % n]!
    await this.check(r)
    return r.up && r.lagMs <= this.maxLagMs && r.replayLsn !== null && r.replayLsn >= need ? r : null
  }

  private writtenLsn(): Promise<bigint | null> {
    const writes = this.writes
    if (this.known.writes === writes) return Promise.resolve(this.known.lsn || null)
    if (this.lsnFetch && this.lsnFetch.writes >= writes) return this.lsnFetch.promise
    const promise = (async () => {
      let client: pg.PoolClient | undefined
      try {
        client = await this.primary.connect()
        this.own.add(client)
        // The insert position: past the commit record of every transaction committed before it,
        // whether or not that record is flushed yet (synchronous_commit = off).
        const { rows } = await client.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')
        const lsn = parseLsn(rows[0]!.lsn)
        if (writes > this.known.writes) this.known = { writes, lsn: lsn > this.known.lsn ? lsn : this.known.lsn }
        return lsn
      } catch {
        return null
      } finally {
        client?.release()
      }
    })()
    this.lsnFetch = { writes, promise }
    return promise
  }

  private check(r: Replica): Promise<void> {
    // One check at a time per replica; a read that needs a fresher position shares it.
    r.check ??= (async () => {
      try {
        const { rows } = await r.pool.query({ text: HEALTH_SQL, query_timeout: 2_000 } as pg.QueryConfig)
        const row = rows[0] as { standby: boolean; replay: string | null; lag_ms: number }
        r.replayLsn = row.standby && row.replay ? parseLsn(row.replay) : null
        r.lagMs = Number(row.lag_ms)
        r.up = true
        delete r.lastError
      } catch (err) {
        this.markDown(r, err)
      } finally {
        r.checkedAt = Date.now()
        r.check = undefined
      }
    })()
    return r.check
  }

  private markDown(r: Replica, err: unknown): void {
    r.up = false
    r.lastError = (err as Error).message
  }
}

/**
 * A pg.Pool whose statements go where the router says (PrismaPg accepts only a pg.Pool).
 * It opens no connection of its own; end() ends the replicas' pools, not the primary's.
 */
export class RoutedReadPool extends pg.Pool {
  constructor(readonly router: ReadRouter) {
    super({ max: 1 })
    Object.defineProperty(this, 'query', {
      value: (config: string | QueryConfig, values?: unknown[], cb?: unknown) => {
        if (typeof values === 'function' || typeof cb === 'function') throw new Error('RoutedReadPool.query: callbacks are not supported; use the promise it returns')
        return router.read(config, values)
      },
    })
    Object.defineProperty(this, 'connect', { value: () => router.connect() })
    Object.defineProperty(this, 'end', { value: () => router.end() })
  }
}

/** What withReplicas() adds to the client. */
export interface ReplicaRouting<P> {
  prisma: P
  /** The pool the api's reads use. */
  readPool: RoutedReadPool
  router: ReadRouter
}

/**
 * The client with read replicas, or null when DATABASE_REPLICA_URLS is unset. `prisma` is the
 * primary's client extended with @prisma/extension-read-replicas (also `$primary()`, `$replica()`).
 */
export function withReplicas<P extends PrismaClient>(base: { prisma: P; pool: pg.Pool; primaryUrl: string }, settings: ReplicaSettings | null = replicaSettings()): ReplicaRouting<P> | null {
  if (!settings) return null
  const { schema } = describeUrl(base.primaryUrl)
  const pools = settings.urls.map((url) => {
    const s = describeUrl(url).schema
    // A replica that does not answer within 2 s counts as down: the read goes to the primary.
    // allowExitOnIdle: idle replica connections never keep the process alive after the client is done.
    const pool = new pg.Pool(driverConfig(url, { connectionTimeoutMillis: 2_000, allowExitOnIdle: true, ...(s === 'public' ? {} : { options: searchPathOption(s) }) }) as pg.PoolConfig)
    return { url, pool }
  })
  const router = new ReadRouter(base.pool, pools, { maxLagMs: settings.maxLagMs, checkIntervalMs: settings.checkIntervalMs, primaryNamed: usesNamedStatements(base.primaryUrl) })
  const readPool = new RoutedReadPool(router)
  const replicaClient = new PrismaClient({ adapter: new PrismaPg(readPool, { schema }) })
  const prisma = base.prisma.$extends(readReplicas({ replicas: [replicaClient] })) as unknown as P
  return { prisma, readPool, router }
}
