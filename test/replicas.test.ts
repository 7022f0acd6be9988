// Read replicas on a real primary and a real streaming standby (test/helpers/replica.ts):
// the backend's client (src/client.ts) with DATABASE_REPLICA_URLS, checked against what each
// server itself records (the standby's pg_stat_database) and against the data: a read after a
// write through the client is never older than that write, with the standby's replay paused,
// running, lagging beyond the bound, or stopped mid-run.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'

import pg from 'pg'

import { buildDataset, datasetSize } from '../bench/dataset.ts'
import type { ApiDb } from '../src/api/index.ts'
import { recordDeliveryStatus } from '../src/api/index.ts'
import { parseLsn, replicaSettings } from '../src/db/replicas.ts'
import { query } from './helpers/db.ts'
import { applyAllMigrations } from './helpers/migrations.ts'
import { caughtUp, one, ReplicaCluster, type PgServer, waitFor } from './helpers/replica.ts'

type Client = typeof import('../src/client.ts')

const DB = 'watify'
// Generous for a loaded CI machine: the lag test waits past it once.
const MAX_LAG_MS = 3_000
const CHECK_MS = 100

describe('read replicas (primary + streaming standby)', { timeout: 300_000 }, () => {
  const cluster = new ReplicaCluster()
  let primary: PgServer
  let standby: PgServer
  let client: Client
  const log = (line: string) => process.stdout.write(`# ${line}\n`)

  before(async () => {
    primary = await cluster.startPrimary()
    standby = await cluster.startStandby(primary)
    log(`primary 127.0.0.1:${primary.port}, standby 127.0.0.1:${standby.port} (${cluster.method})`)
    await one(primary.url(), `CREATE DATABASE ${DB}`)
    await applyAllMigrations(primary.url(DB))
    const c = new pg.Client({ connectionString: primary.url(DB) })
    await c.connect()
    try {
      await buildDataset(c as unknown as pg.PoolClient, datasetSize(0.01), () => {})
    } finally {
      await c.end()
    }
    await caughtUp(primary, standby, DB)
    // The backend's own client module, configured as a deployment would be.
    process.env.DATABASE_URL = primary.url(DB)
    process.env.DATABASE_REPLICA_URLS = standby.url(DB)
    process.env.DATABASE_REPLICA_MAX_LAG_MS = String(MAX_LAG_MS)
    process.env.DATABASE_REPLICA_CHECK_INTERVAL_MS = String(CHECK_MS)
    client = await import('../src/client.ts')
  })

  after(async () => {
    await client?.prisma.$disconnect()
    await client?.replicas?.end()
    await client?.pool.end()
    await cluster.stop()
  })

  const router = () => client.replicas!
  const standbyCommits = async () => Number((await one<{ n: string }>(standby.url(DB), `SELECT xact_commit AS n FROM pg_stat_database WHERE datname = $1`, [DB])).n)
  const standbyTableScans = async (table: string) => Number((await one<{ n: string }>(standby.url(DB), `SELECT coalesce(idx_scan, 0) + coalesce(seq_scan, 0) AS n FROM pg_stat_user_tables WHERE relname = $1`, [table])).n)

  it('without DATABASE_REPLICA_URLS nothing is routed; a bad replica URL is refused without printing it', () => {
    const saved = process.env.DATABASE_REPLICA_URLS
    try {
      delete process.env.DATABASE_REPLICA_URLS
      assert.equal(replicaSettings(), null)
      process.env.DATABASE_REPLICA_URLS = 'postgresql://u:s3cr%et/x@host/db'
      assert.throws(() => replicaSettings(), (err: Error) => /DATABASE_REPLICA_URLS \(environment\): URL number 1/.test(err.message) && !err.message.includes('s3cr'))
    } finally {
      process.env.DATABASE_REPLICA_URLS = saved
    }
  })

  it('Prisma reads and the api reads go to the standby (its own statistics count them); writes and raw SQL to the primary', async () => {
    assert.ok(client.replicas, 'DATABASE_REPLICA_URLS set: the client has a router')
    const before = { ...router().counts }
    const scansBefore = await standbyTableScans('campaigns')
    const N = 50
    for (let i = 0; i < N; i++) {
      assert.ok(await client.prisma.campaign.findUnique({ where: { id: 1 } }))
      assert.ok((await client.prisma.subscriber.count()) >= 2000)
      assert.ok(await client.api.campaignPerformance(1))
      await client.api.audienceSize({ any: ['vip'] })
      await client.api.subscriberHistory(10, { limit: 5 })
    }
    const c = router().counts
    // A Prisma read may be more than one statement; each api read is one.
    assert.ok(c.replica - before.replica >= 5 * N, `reads on the replica: ${c.replica - before.replica}`)
    assert.equal(c.primary - before.primary, 0, 'no read fell back to the primary')
    // The standby's own statistics: every campaigns read above (Prisma's and the api's) scanned campaigns there.
    await waitFor(async () => (await standbyTableScans('campaigns')) - scansBefore >= 2 * N, 20_000, 'the standby to report its scans of campaigns')
    // $replica() is the routed client; raw SQL through it runs on the standby.
    const [viaReplica] = await (client.prisma as unknown as { $replica(): typeof client.prisma }).$replica().$queryRaw<Array<{ standby: boolean }>>`SELECT pg_is_in_recovery() AS standby`
    assert.equal(viaReplica!.standby, true)
    // Raw SQL on the client runs on the primary: pg_is_in_recovery() is false there. It counts as
    // a write (the router cannot tell); the next read learns the primary's position now, so the
    // next test starts with this process's writes known.
    const [raw] = await client.prisma.$queryRaw<Array<{ standby: boolean }>>`SELECT pg_is_in_recovery() AS standby`
    assert.equal(raw!.standby, false)
    assert.ok(await router().writeToken())
  })

  it('a write made elsewhere may be read late within the lag bound; a replica lagging beyond it is skipped', async () => {
    // The standby lags behind writes this process did not make: allowed up to DATABASE_REPLICA_MAX_LAG_MS.
    const other = new pg.Client({ connectionString: primary.url(DB) })
    await other.connect()
    try {
      await other.query(`UPDATE campaigns SET name = 'elsewhere 1' WHERE id = 2`)
      await caughtUp(primary, standby, DB)
      await one(standby.url(DB), 'SELECT pg_wal_replay_pause()')
      await other.query(`UPDATE campaigns SET name = 'elsewhere 2' WHERE id = 2`)
      await router().refresh()
      const soon = await client.prisma.campaign.findUnique({ where: { id: 2 } })
      assert.equal(soon!.name, 'elsewhere 1', 'within the bound the standby serves the read (it has not replayed the second update)')
      // Past the bound (plus a check), the standby is skipped and the primary answers.
      await new Promise((r) => setTimeout(r, MAX_LAG_MS + 3 * CHECK_MS))
      await router().refresh()
      const st = router().status()[0]!
      assert.ok(st.lagMs > MAX_LAG_MS, `lag measured: ${st.lagMs} ms`)
      const late = await client.prisma.campaign.findUnique({ where: { id: 2 } })
      assert.equal(late!.name, 'elsewhere 2')
      log(`replay paused: standby lag ${Math.round(st.lagMs)} ms > ${MAX_LAG_MS} ms bound: read served by the primary`)
    } finally {
      await one(standby.url(DB), 'SELECT pg_wal_replay_resume()')
      await other.end()
    }
    await caughtUp(primary, standby, DB)
  })

  it('reads after writes through the client are never stale: replay paused, then running', async () => {
    const pairs = 50
    const onPrimary = new pg.Client({ connectionString: primary.url(DB) })
    const onStandby = new pg.Client({ connectionString: standby.url(DB) })
    await onPrimary.connect()
    await onStandby.connect()
    const sent = (await onPrimary.query<{ w: string; c: number }>(`SELECT whatsapp_message_id AS w, campaign_id AS c FROM messages WHERE status = 'sent' AND campaign_id IS NOT NULL ORDER BY id LIMIT $1`, [2 * pairs])).rows
    assert.equal(sent.length, 2 * pairs)
    const round = async (label: string) => {
      const before = { ...router().counts }
      let stale = 0
      let standbyOlder = 0
      for (let i = 0; i < pairs; i++) {
        const name = `${label} ${i}`
        // Prisma write, then a Prisma read of the same row.
        await client.prisma.campaign.update({ where: { id: 3 }, data: { name } })
        const read = await client.prisma.campaign.findUnique({ where: { id: 3 }, select: { name: true } })
        if (read!.name !== name) stale++
        // What the standby alone would have answered (what the Prisma extension by itself serves).
        if ((await onStandby.query<{ name: string }>('SELECT name FROM campaigns WHERE id = 3')).rows[0]!.name !== name) standbyOlder++
        // A fast-path write (a delivery webhook), then the dashboard read must count it.
        const m = sent.shift()!
        const truth = (await onPrimary.query<{ d: number }>(`SELECT count(*) FILTER (WHERE status IN ('delivered', 'read'))::int AS d FROM messages WHERE campaign_id = $1`, [m.c])).rows[0]!.d
        await client.api.recordDeliveryStatus(m.w, 'DELIVERED', new Date())
        const perf = await client.api.campaignPerformance(m.c)
        if (perf!.delivered !== truth + 1) stale++
      }
      const c = router().counts
      const line = `${label}: ${pairs} x 2 write-then-read pairs (Prisma update + findUnique; webhook + campaignPerformance): ${stale} stale; reads on the standby ${c.replica - before.replica}, on the primary ${c.primary - before.primary}; the standby read directly was older than the write ${standbyOlder} of ${pairs} times`
      log(line)
      return { stale, onReplica: c.replica - before.replica, onPrimary: c.primary - before.primary, standbyOlder }
    }

    await one(standby.url(DB), 'SELECT pg_wal_replay_pause()')
    let paused
    try {
      paused = await round('replay paused')
    } finally {
      await one(standby.url(DB), 'SELECT pg_wal_replay_resume()')
    }
    // The paused standby replays nothing: the router must have sent every read after a write to the primary.
    assert.equal(paused.stale, 0)
    assert.equal(paused.standbyOlder, pairs, 'the standby was behind every write: a router without read-your-writes would have been stale')
    assert.equal(paused.onReplica, 0)

    await caughtUp(primary, standby, DB)
    const running = await round('replay running')
    assert.equal(running.stale, 0)
    assert.ok(running.onReplica > 0, 'once the standby has replayed a write, reads after it are served there again')

    // A token from this process lets a later request (any process) read at least that new.
    const token = await router().writeToken()
    assert.ok(token && parseLsn(token) > 0n)
    await onPrimary.end()
    await onStandby.end()
  })

  it('a request scope carries a write token from elsewhere, and can pin its reads to the primary', async () => {
    const { withReadScope } = await import('../src/db/replicas.ts')
    await caughtUp(primary, standby, DB)
    await one(standby.url(DB), 'SELECT pg_wal_replay_pause()')
    const other = new pg.Client({ connectionString: primary.url(DB) })
    await other.connect()
    try {
      // Another process's write, and its token (the primary's position after it).
      await other.query(`UPDATE campaigns SET name = 'other process' WHERE id = 4`)
      const { lsn } = (await other.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0]!
      await router().refresh()
      // Without the token this process may read the standby (within the bound: it just paused).
      const inScope = await withReadScope(() => client.prisma.campaign.findUnique({ where: { id: 4 } }), { after: lsn })
      assert.equal(inScope!.name, 'other process')
      const pinned = await withReadScope(async () => (await (client.prisma as unknown as { $replica(): typeof client.prisma }).$replica().$queryRaw<Array<{ standby: boolean }>>`SELECT pg_is_in_recovery() AS standby`)[0]!.standby, { primary: true })
      assert.equal(pinned, false, 'primary: true sends the scope\'s reads to the primary')
    } finally {
      await one(standby.url(DB), 'SELECT pg_wal_replay_resume()')
      await other.end()
    }
  })

  it('dashboard reads during a webhook storm land on the standby; webhooks on the primary', async () => {
    await caughtUp(primary, standby, DB)
    // The storm: 4 webhook workers of another process (their own connections to the primary).
    const targets = (await query<{ w: string }>(primary.url(DB), `SELECT whatsapp_message_id AS w FROM messages WHERE status = 'sent' AND campaign_id IS NOT NULL`)).map((r) => r.w)
    const stormPools = Array.from({ length: 4 }, () => new pg.Pool({ connectionString: primary.url(DB), max: 1 }))
    const commitsBefore = await standbyCommits()
    const before = { ...router().counts }
    let next = 0
    let webhooks = 0
    let stop = false
    const storm = stormPools.map(async (pool) => {
      const db: ApiDb = { prisma: client.prisma, pool }
      while (!stop && next < targets.length) {
        await recordDeliveryStatus(db, targets[next++]!, 'DELIVERED', new Date())
        webhooks++
      }
    })
    let reads = 0
    const until = Date.now() + 3_000
    try {
      while (Date.now() < until) {
        assert.ok(await client.api.campaignPerformance((reads % 10) + 1))
        reads++
      }
    } finally {
      stop = true
      await Promise.all(storm)
      await Promise.all(stormPools.map((p) => p.end()))
    }
    const c = router().counts
    assert.ok(webhooks > 50, `webhooks during the reads: ${webhooks}`)
    assert.equal(c.replica - before.replica, reads, 'every dashboard read was served by the standby')
    assert.equal(c.primary - before.primary, 0)
    // The standby's own statistics show the transactions (one per read, plus the health checks).
    await waitFor(async () => (await standbyCommits()) - commitsBefore >= reads, 20_000, `the standby to report ${reads} transactions`)
    log(`webhook storm: ${webhooks} webhooks on the primary; ${reads} dashboard reads, all on the standby (its pg_stat_database.xact_commit grew by ${(await standbyCommits()) - commitsBefore})`)
  })

  it('reads keep working when the standby stops mid-run, and return to it when it is back', async () => {
    await caughtUp(primary, standby, DB)
    const before = { ...router().counts }
    let failures = 0
    let reads = 0
    let stop = false
    const readers = Array.from({ length: 3 }, async () => {
      while (!stop) {
        try {
          assert.ok(await client.api.campaignPerformance((reads % 10) + 1))
          assert.ok(await client.prisma.campaign.findFirst({ where: { id: (reads % 10) + 1 } }))
          reads++
        } catch (err) {
          failures++
          log(`read failed: ${(err as Error).message}`)
        }
      }
    })
    await new Promise((r) => setTimeout(r, 300))
    await standby.stop()
    const downAt = reads
    await new Promise((r) => setTimeout(r, 1_000))
    const duringDown = reads - downAt
    stop = true
    await Promise.all(readers)
    const c = router().counts
    assert.equal(failures, 0, 'no read failed while the primary was up')
    assert.ok(duringDown >= 5, `reads while the standby was down: ${duringDown}`)
    assert.equal(router().status()[0]!.up, false)
    log(`standby stopped mid-run: ${reads} reads, 0 failed (${duringDown} while it was down; ${c.retriedOnPrimary - before.retriedOnPrimary} retried on the primary after failing on it)`)

    await standby.start()
    await caughtUp(primary, standby, DB)
    const back = router().counts.replica
    await waitFor(async () => {
      await client.api.campaignPerformance(1)
      return router().counts.replica > back
    }, 10_000, 'reads to return to the standby')
    assert.equal(router().status()[0]!.up, true)
  })
})
