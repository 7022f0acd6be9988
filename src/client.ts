// The database client the backend imports: `import { prisma, pool, api } from './client.ts'`.
//
// One pg.Pool, and one PrismaClient built on that same pool (@prisma/adapter-pg), connected
// exactly as the CLI is: the URL comes from resolveDatabaseUrl() (DATABASE_URL, then .env,
// then the embedded server), and Prisma's `?schema=` is honoured both in generated queries
// (PrismaPg's `schema` option) and for raw SQL (the session's search_path).
// `api` is src/api bound to both: its hot paths run as prepared statements straight on the
// pool (the fast path measured in docs/performance.md), sharing Prisma's connections.
// Outside production the instances are cached on globalThis, so reloading modules in
// development (tsx watch, test re-imports) does not open a new pool each time.
//
// Shutdown: `await prisma.$disconnect(); await pool.end()` (Prisma does not end a pool it was given).
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'

import { createApi, type WatifyApi } from './api/index.ts'
import { resolveDatabaseUrl } from './db/config.ts'
import { describeUrl, driverConfig, searchPathOption } from './db/url.ts'
import { PrismaClient } from './generated/prisma/client.ts'

interface Database {
  prisma: PrismaClient
  pool: pg.Pool
  api: WatifyApi
}

async function createDatabase(): Promise<Database> {
  const { url } = await resolveDatabaseUrl()
  const { schema } = describeUrl(url)
  const pool = new pg.Pool(driverConfig(url, schema === 'public' ? {} : { options: searchPathOption(schema) }) as pg.PoolConfig)
  // Without a listener, an idle connection dropped by the server (restart, idle timeout)
  // would crash the process; pg has already discarded that client, the next query opens a new one.
  pool.on('error', () => {})
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool, { schema }) })
  return { prisma, pool, api: createApi({ prisma, pool }) }
}

const globalForDb = globalThis as typeof globalThis & { __watifyDb?: Database }

const db: Database = globalForDb.__watifyDb ?? (await createDatabase())

if (process.env.NODE_ENV !== 'production') globalForDb.__watifyDb = db

export const prisma: PrismaClient = db.prisma
export const pool: pg.Pool = db.pool
export const api: WatifyApi = db.api
