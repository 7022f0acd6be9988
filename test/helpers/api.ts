// The setup the src/api tests share: a fresh database with the real history
// applied (a copy of the run's migrated template), a pg pool and the PrismaClient
// built on it, and the two ways src/api can be called (the pool fast path and
// Prisma alone).
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'

import type { ApiDb } from '../../src/api/index.ts'
import { PrismaClient } from '../../src/generated/prisma/client.ts'
import { query, type TestDatabase } from './db.ts'
import { migratedDatabase } from './seeded.ts'

export interface ApiTestDatabase {
  db: TestDatabase
  pool: pg.Pool
  prisma: PrismaClient
  /** `[label, executor]` for each path; run every case through both. */
  paths: Array<[label: 'pool' | 'prisma', getDb: () => ApiDb]>
  /** Disconnects and drops the database. */
  close(): Promise<void>
}

/** A migrated database `t_<prefix>_<random>`; on a setup failure nothing is left behind. */
export async function openApiDatabase(prefix: string): Promise<ApiTestDatabase> {
  const db = await migratedDatabase(prefix)
  let pool: pg.Pool | undefined
  let prisma: PrismaClient | undefined
  const close = async () => {
    await prisma?.$disconnect()
    await pool?.end().catch(() => {})
    await db.drop()
  }
  try {
    // 4: room for the concurrent calls some cases make, on top of Prisma's own use of the pool.
    const p = (pool = new pg.Pool({ connectionString: db.url, max: 4 }))
    const c = (prisma = new PrismaClient({ adapter: new PrismaPg(p) }))
    return {
      db,
      pool: p,
      prisma: c,
      paths: [
        ['pool', () => ({ prisma: c, pool: p })],
        ['prisma', () => c],
      ],
      close,
    }
  } catch (err) {
    await close()
    throw err
  }
}

/** A campaign's messages counted by status: what its performance counters must equal. */
export async function countedByStatus(url: string, campaignId: number) {
  const [r] = await query<{ total: number; queued: number; sent: number; delivered: number; read: number; failed: number }>(
    url,
    `SELECT count(*)::int AS total,
            count(*) FILTER (WHERE status = 'queued')::int AS queued,
            count(*) FILTER (WHERE status IN ('sent', 'delivered', 'read'))::int AS sent,
            count(*) FILTER (WHERE status IN ('delivered', 'read'))::int AS delivered,
            count(*) FILTER (WHERE status = 'read')::int AS read,
            count(*) FILTER (WHERE status = 'failed')::int AS failed
       FROM messages WHERE campaign_id = $1`,
    [campaignId],
  )
  return r!
}
