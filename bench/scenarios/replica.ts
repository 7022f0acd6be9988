// k. Read replicas: the dashboard (campaign performance, one session) while 8 webhook
// sessions write, with the dashboard's reads on the primary and with them routed to a
// streaming standby (src/db/replicas.ts, as DATABASE_REPLICA_URLS would), alternating rounds,
// the same data and the same webhooks each time. Runs on its own primary + standby started
// for the purpose (test/helpers/replica.ts: the system binaries with pg_basebackup, else the
// embedded ones), on this machine: both servers share its cores, so this measures where the
// reads wait, not extra capacity. `npm run bench -- --only=replica` runs it alone.
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'

import { type ApiDb, campaignPerformance, recordDeliveryStatus } from '../../src/api/index.ts'
import { withReplicas } from '../../src/db/replicas.ts'
import { PrismaClient } from '../../src/generated/prisma/client.ts'
import { caughtUp, ReplicaCluster } from '../../test/helpers/replica.ts'
import { type DatasetSize, buildDataset, datasetSize } from '../dataset.ts'
import { concurrently, median, percentile, runTimed } from '../harness.ts'
import { compare, type Row } from '../report.ts'

const SESSIONS = 8
const ROUNDS = 3
/** Small on purpose (a shared 2-core machine): the dashboard read's cost does not grow with the messages table. */
export const REPLICA_SCALE = 0.05

export async function replicaScenario(opts: { duration: number; log: (line: string) => void; rows: Row[] }): Promise<{ postgres: string; size: DatasetSize }> {
  const { log } = opts
  const size = datasetSize(REPLICA_SCALE)
  log(`\nk. read replicas: dashboard during ${SESSIONS} webhook sessions, reads on the primary vs on a streaming standby (${opts.duration} s per run, ${ROUNDS} rounds each):`)
  const cluster = new ReplicaCluster()
  try {
    const primary = await cluster.startPrimary()
    const standby = await cluster.startStandby(primary)
    log(`  primary 127.0.0.1:${primary.port}, standby 127.0.0.1:${standby.port} (${cluster.method})`)
    const admin = new pg.Client({ connectionString: primary.url() })
    await admin.connect()
    await admin.query('CREATE DATABASE watify')
    await admin.end()
    const url = primary.url('watify')
    const deploy = await runTimed('npx', ['prisma', 'migrate', 'deploy'], { DATABASE_URL: url })
    if (deploy.code !== 0) throw new Error(`npx prisma migrate deploy failed (exit ${deploy.code}):\n${deploy.out}`)
    const pool = new pg.Pool({ connectionString: url, max: 4 })
    const client = await pool.connect()
    try {
      await buildDataset(client, size, () => {})
      // Vacuumed now, so autovacuum does not start on the fresh rows during a measured run.
      await client.query('VACUUM ANALYZE')
    } finally {
      client.release()
    }
    const postgres = ((await pool.query('SHOW server_version')).rows[0] as { server_version: string }).server_version
    await caughtUp(primary, standby, 'watify')
    log(`  dataset: ${size.subscribers} subscribers, ${size.campaigns} campaigns, ${size.messages} messages; standby caught up`)

    const prisma = new PrismaClient({ adapter: new PrismaPg(pool) })
    const routed = withReplicas({ prisma, pool, primaryUrl: url }, { urls: [standby.url('watify')], maxLagMs: 5_000, checkIntervalMs: 1_000 })!
    const rows = (await pool.query(`SELECT whatsapp_message_id AS w, campaign_id AS c FROM messages WHERE status = 'sent' AND campaign_id IS NOT NULL ORDER BY id`)).rows as Array<{ w: string; c: number }>
    const targets = rows.map((r) => r.w)
    const hit = [...new Set(rows.map((r) => r.c))]
    const dashPrimary = new pg.Pool({ connectionString: url, max: 1 })
    const onPrimary: ApiDb = { prisma, pool: dashPrimary }
    const onStandby: ApiDb = { prisma, pool, readPool: routed.readPool }
    const at = new Date()
    const results: Record<'primary' | 'standby', { rates: number[]; times: number[] }> = { primary: { rates: [], times: [] }, standby: { rates: [], times: [] } }
    try {
      // Round 0 is a warm-up (connections, caches, prepared statements on both servers), not counted.
      for (let round = -1; round < ROUNDS; round++) {
        for (const side of round % 2 === 0 ? (['primary', 'standby'] as const) : (['standby', 'primary'] as const)) {
          const dash = side === 'primary' ? onPrimary : onStandby
          const replicaBefore = routed.router.counts.replica
          let next = 0
          const work = concurrently(url, SESSIONS, round < 0 ? Math.min(1, opts.duration) : opts.duration, async (_w, p) => {
            const w = targets[next++]
            if (!w) return 0
            await recordDeliveryStatus({ prisma, pool: p }, w, 'DELIVERED', at)
            return 1
          })
          let done = false
          void work.finally(() => (done = true))
          const times: number[] = []
          for (let i = 0; !done; i++) {
            const t = performance.now()
            if (!(await campaignPerformance(dash, hit[i % hit.length]!))) throw new Error('campaign performance returned nothing')
            times.push(performance.now() - t)
          }
          const r = await work
          const served = routed.router.counts.replica - replicaBefore
          if (side === 'standby' && served !== times.length) throw new Error(`${times.length - served} of ${times.length} dashboard reads did not go to the standby`)
          // Back to `sent` for the next run (triggers on: the counters follow back).
          await pool.query(`UPDATE messages SET status = 'sent', delivered_at = NULL WHERE whatsapp_message_id = ANY($1::varchar[])`, [targets.slice(0, next)])
          await caughtUp(primary, standby, 'watify')
          if (round < 0) continue
          results[side].rates.push(r.rate)
          results[side].times.push(...times)
          times.sort((a, b) => a - b)
          const exhausted = next >= targets.length ? ' (ran out of sent messages: lower --duration)' : ''
          log(`  dashboard on the ${side}: ${times.length} reads, p50 ${percentile(times, 50).toFixed(3)} ms, p99 ${percentile(times, 99).toFixed(3)} ms; webhooks ${Math.round(r.rate)}/s${exhausted}`)
        }
      }
    } finally {
      await dashPrimary.end()
      await prisma.$disconnect()
      await routed.router.end()
      await pool.end()
    }
    for (const s of Object.values(results)) s.times.sort((a, b) => a - b)
    const p99 = { primary: percentile(results.primary.times, 99), standby: percentile(results.standby.times, 99) }
    const rate = { primary: median(results.primary.rates), standby: median(results.standby.rates) }
    compare(opts.rows, { op: 'k. replicas: dashboard during webhooks', path: `campaign performance on the standby, ${SESSIONS} webhook sessions on the primary`, metric: 'p99 ms', value: p99.standby, raw: p99.primary, target: '-', note: `limit: the same reads on the primary; ${results.standby.times.length} vs ${results.primary.times.length} reads, p50 ${percentile(results.standby.times, 50).toFixed(3)} vs ${percentile(results.primary.times, 50).toFixed(3)} ms; both servers on this machine's cores` }, {})
    compare(opts.rows, { op: 'k. replicas: webhooks during dashboard', path: `${SESSIONS} sessions, one status per call, dashboard on the standby (vs on the primary)`, metric: 'statuses/s', value: rate.standby, raw: rate.primary, target: '-', note: `median of ${ROUNDS} alternating rounds (standby ${results.standby.rates.map(Math.round).join(', ')}; primary ${results.primary.rates.map(Math.round).join(', ')})` }, {})
    return { postgres, size }
  } finally {
    await cluster.stop()
  }
}
