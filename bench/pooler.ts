// `npm run bench:pooler [-- --iterations=500]`
//
// The API fast path with and without named prepared statements, and the client
// under 40 concurrent workers directly and through a real PgBouncer in
// transaction mode (started here on a free loopback port when the `pgbouncer`
// binary is installed). Works in a FRESH database `watify_bench_pooler` on the
// server of DIRECT_DATABASE_URL / DATABASE_URL / the embedded default, dropped
// at the end. Figures are ratios within this one process: unnamed / named p50.
import { parseArgs } from 'node:util'

import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'

import { createApi } from '../src/api/index.ts'
import { maskUrl, resolveDatabaseUrl } from '../src/db/config.ts'
import { PrismaClient } from '../src/generated/prisma/client.ts'
import { withDatabase } from '../src/migrate/connection.ts'
import { deploy } from '../src/migrate/index.ts'
import { pgbouncerSkipReason, startPgBouncer } from '../test/helpers/pgbouncer.ts'
import { buildDataset, datasetSize } from './dataset.ts'
import { loadTargets, runPoolerLoad } from './pooler-load.ts'
import { percentile } from './stats.ts'

const DB = 'watify_bench_pooler'
const WORKERS = 40
const CALLS = 1200
const log = (line: string) => process.stdout.write(`${line}\n`)

async function admin(serverUrl: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: serverUrl })
  await c.connect()
  try {
    await c.query(sql)
  } finally {
    await c.end()
  }
}

function client(url: string, named: boolean) {
  // As src/client.ts builds it: one pool (pg's default size 10), Prisma on top.
  const pool = new pg.Pool({ connectionString: url })
  pool.on('error', () => {})
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) })
  return { pool, prisma, api: createApi({ prisma, pool, namedStatements: named }), close: async () => (await prisma.$disconnect(), await pool.end()) }
}

function withPgbouncerFlag(url: string): string {
  const u = new URL(url)
  u.searchParams.set('pgbouncer', 'true')
  return u.toString()
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { iterations: { type: 'string', default: '500' } } })
  const iterations = Number(values.iterations)
  if (!Number.isInteger(iterations) || iterations < 10) {
    process.stderr.write('! --iterations must be a whole number of at least 10\n')
    return 2
  }
  const server = (await resolveDatabaseUrl({ log, purpose: 'schema' })).url
  const url = withDatabase(server, DB)
  log(`Benchmark database: ${maskUrl(url)}`)
  await admin(server, `DROP DATABASE IF EXISTS "${DB}" WITH (FORCE)`)
  await admin(server, `CREATE DATABASE "${DB}" ENCODING 'UTF8' TEMPLATE template0`)
  try {
    await deploy({ url })
    const setup = new pg.Pool({ connectionString: url, max: 2 })
    const c = await setup.connect()
    await buildDataset(c, datasetSize(0.05), () => {})
    c.release()

    // 1. Latency on a direct connection, named and unnamed interleaved (order alternating).
    const direct = client(url, true)
    const unnamed = { ...direct, api: createApi({ prisma: direct.prisma, pool: direct.pool, namedStatements: false }) }
    const warmup = 50
    const n = warmup + iterations
    const ids = (await setup.query<{ w: string }>(`SELECT whatsapp_message_id AS w FROM messages WHERE status = 'sent' ORDER BY id DESC LIMIT $1`, [2 * n])).rows.map((r) => r.w)
    const campaigns = (await setup.query<{ id: number }>('SELECT id FROM campaigns ORDER BY id')).rows.map((r) => r.id)
    const at = new Date()
    const samples: Record<string, number[]> = { 'webhook named': [], 'webhook unnamed': [], 'performance named': [], 'performance unnamed': [] }
    const time = async (key: string, i: number, f: () => Promise<unknown>) => {
      const t = performance.now()
      await f()
      if (i >= warmup) samples[key]!.push(performance.now() - t)
    }
    for (let i = 0; i < n; i++) {
      const order = i % 2 ? [true, false] : [false, true]
      for (const named of order) {
        const api = named ? direct.api : unnamed.api
        await time(`webhook ${named ? 'named' : 'unnamed'}`, i, () => api.recordDeliveryStatus(ids[2 * i + (named ? 0 : 1)]!, 'DELIVERED', at))
        await time(`performance ${named ? 'named' : 'unnamed'}`, i, () => api.campaignPerformance(campaigns[i % campaigns.length]!))
      }
    }
    const p = (k: string, q: number) => percentile(samples[k]!.sort((a, b) => a - b), q)
    log(`\nFast path on a direct connection, ${iterations} iterations after ${warmup} warm-up (same process, interleaved):`)
    log('| Operation | named p50 ms | unnamed p50 ms | named p99 ms | unnamed p99 ms | unnamed / named (p50) |')
    log('|---|---:|---:|---:|---:|---:|')
    for (const op of ['webhook', 'performance']) {
      const [a, b] = [p(`${op} named`, 50), p(`${op} unnamed`, 50)]
      log(`| ${op === 'webhook' ? 'recordDeliveryStatus' : 'campaignPerformance'} | ${a.toFixed(3)} | ${b.toFixed(3)} | ${p(`${op} named`, 99).toFixed(3)} | ${p(`${op} unnamed`, 99).toFixed(3)} | ${(b / a).toFixed(2)}x |`)
    }
    await direct.close()

    // 2. The 40-worker case, directly and through PgBouncer, named and unnamed.
    const skip = pgbouncerSkipReason()
    const bouncer = skip ? undefined : await startPgBouncer(server, { poolSize: 4 })
    log(`\n${WORKERS} workers, ${CALLS} calls (recordDeliveryStatus, campaignPerformance, prisma.subscriber.count)${skip ? `; PgBouncer skipped: ${skip}` : ', PgBouncer 1.18 pool_mode=transaction default_pool_size=4'}:`)
    log('| Connection | Statements | ok | failed | calls/s | failures |')
    log('|---|---|---:|---:|---:|---|')
    try {
      const cases: Array<[string, string, boolean]> = [
        ['direct', url, true],
        ['direct', url, false],
        ...(bouncer ? ([['PgBouncer', bouncer.pooled(url), true], ['PgBouncer', withPgbouncerFlag(bouncer.pooled(url)), false]] as Array<[string, string, boolean]>) : []),
      ]
      for (const [label, caseUrl, named] of cases) {
        // Each case takes the next `sent` messages (the previous case delivered its own).
        const cl = client(caseUrl, named)
        const r = await runPoolerLoad(cl, await loadTargets(setup, CALLS), { workers: WORKERS, calls: CALLS })
        await cl.close()
        const kinds = Object.entries(r.failures).map(([m, k]) => `${m} (${k})`).join('; ') || '-'
        log(`| ${label} | ${named ? 'named' : 'unnamed'} | ${r.ok} | ${r.failed} | ${Math.round((r.calls / r.ms) * 1000)} | ${kinds} |`)
      }
    } finally {
      await bouncer?.stop()
      await setup.end()
    }
    return 0
  } finally {
    await admin(server, `DROP DATABASE IF EXISTS "${DB}" WITH (FORCE)`)
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err) => {
    process.stderr.write(`Error: ${(err as Error).stack ?? err}\n`)
    process.exitCode = 1
  },
)
