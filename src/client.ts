// The database client the backend imports: `import { prisma, pool, api } from './client.ts'`.
//
// One pg.Pool, and one PrismaClient built on that same pool (@prisma/adapter-pg). The URL is
// DATABASE_URL (environment, then .env). Importing never starts a server: without a URL it
// fails at once, unless WATIFY_DEV_EMBEDDED=1 asks for the project's embedded server outside
// production (local development; a production process with a missing variable must not
// quietly run on a throwaway local database). Prisma's `?schema=` is honoured both in generated
// queries (PrismaPg's `schema` option) and for raw SQL (the session's search_path).
// `api` is src/api bound to both: its hot paths run as prepared statements straight on the
// pool (the fast path measured in docs/performance.md), sharing Prisma's connections, as named
// prepared statements unless DATABASE_URL carries `pgbouncer=true` (a transaction pooler).
// Outside production the instances are cached on globalThis, so reloading modules in
// development (tsx watch, test re-imports) does not open a new pool each time.
//
// With DATABASE_REPLICA_URLS set, reads go to read replicas (src/db/replicas.ts, docs/replicas.md):
// `prisma` is then extended with @prisma/extension-read-replicas, `api`'s reads use the same
// router, and `replicas` is that router (status, writeToken); without it, `replicas` is null.
//
// Shutdown: `await disconnect()` ends Prisma and the pool (Prisma does not end a pool it was
// given, and an open pool keeps a script alive for its idle timeout, 10 s).
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'

import { createApi, type WatifyApi } from './api/index.ts'
import { withDomainRules } from './domain/extension.ts'
import { configValue, findConfiguredUrl, resolveDatabaseUrl, usesNamedStatements } from './db/config.ts'
import { type ReadRouter, withReplicas } from './db/replicas.ts'
import { describeUrl, driverConfig, searchPathOption } from './db/url.ts'
import { PrismaClient } from './generated/prisma/client.ts'

interface Database {
  prisma: PrismaClient
  pool: pg.Pool
  api: WatifyApi
  replicas: ReadRouter | null
}

async function databaseUrl(): Promise<string> {
  const configured = findConfiguredUrl()
  if (configured) return configured.url
  const optIn = configValue('WATIFY_DEV_EMBEDDED')?.value === '1'
  if (optIn && process.env.NODE_ENV !== 'production') return (await resolveDatabaseUrl()).url
  throw new Error(
    optIn
      ? 'DATABASE_URL is not set, and WATIFY_DEV_EMBEDDED=1 is ignored with NODE_ENV=production: set DATABASE_URL to the production database.'
      : 'DATABASE_URL is not set: set it (environment or .env) to the database this process must use. ' +
          'For local development on the project\'s embedded PostgreSQL, set WATIFY_DEV_EMBEDDED=1 instead.',
  )
}

async function createDatabase(): Promise<Database> {
  const url = await databaseUrl()
  const { schema } = describeUrl(url)
  const pool = new pg.Pool(driverConfig(url, schema === 'public' ? {} : { options: searchPathOption(schema) }) as pg.PoolConfig)
  // Without a listener, an idle connection dropped by the server (restart, idle timeout)
  // would crash the process; pg has already discarded that client, the next query opens a new one.
  pool.on('error', () => {})
  const primary = new PrismaClient({ adapter: new PrismaPg(pool, { schema }) })
  const routed = withReplicas({ prisma: primary, pool, primaryUrl: url })
  // Outermost, so replica reads too get normalised input and typed errors (docs/client.md).
  const defaultPhoneRegion = configValue('WATIFY_DEFAULT_PHONE_REGION')?.value
  const prisma = withDomainRules(routed?.prisma ?? primary, { defaultPhoneRegion })
  return {
    prisma,
    pool,
    replicas: routed?.router ?? null,
    api: createApi({ prisma, pool, namedStatements: usesNamedStatements(url), ...(routed ? { readPool: routed.readPool } : {}) }, { defaultPhoneRegion }),
  }
}

const globalForDb = globalThis as typeof globalThis & { __watifyDb?: Database }

const db: Database = globalForDb.__watifyDb ?? (await createDatabase())

if (process.env.NODE_ENV !== 'production') globalForDb.__watifyDb = db

export const prisma: PrismaClient = db.prisma
export const pool: pg.Pool = db.pool
export const api: WatifyApi = db.api
export const replicas: ReadRouter | null = db.replicas

/** Closes the client and its pool, so a script or a stopping server exits at once. Safe to call twice. */
export async function disconnect(): Promise<void> {
  if (globalForDb.__watifyDb === db) delete globalForDb.__watifyDb
  await db.prisma.$disconnect()
  if (!db.pool.ended) await db.pool.end()
}
