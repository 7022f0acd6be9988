// h. Delivery webhooks under concurrent load: statuses/s at 1, 8 and 32 sessions, one
// status per call and batches of 500, with every database rule on and with messages'
// user triggers off (the limit: the same statements without the rules), each side the
// median of alternating rounds. While the 8-session single-status runs go on, a dashboard
// session reads campaign performance: its p99 against the same reads on the idle database
// (it reads during the triggers-off runs too, so both sides of the ratio carry the same
// extra session).
import pg from 'pg'

import { type ApiDb, type CampaignPerformance, campaignPerformance, recordDeliveryStatus, recordDeliveryStatuses } from '../../src/api/index.ts'
import { type BenchContext, concurrently, median, percentile, withUserTriggersOff } from '../harness.ts'
import { compare } from '../report.ts'

export const BATCH = 500
const SESSIONS = [1, 8, 32]
const ROUNDS = 3

export async function webhookStorm(ctx: BenchContext): Promise<void> {
  ctx.log(`\nh. webhooks under concurrent load (${ctx.opts.duration} s per run; sent -> delivered, each message once per run):`)
  // Sent campaign messages (the single-call runs of c moved theirs on already). After each
  // run its messages go back to `sent` (with the triggers as they were during the run, so
  // the counters follow back): every run starts from the same data.
  const rows = (await ctx.rawPool.query(`SELECT whatsapp_message_id AS w, campaign_id AS c FROM messages WHERE status = 'sent' AND campaign_id IS NOT NULL ORDER BY id`)).rows as Array<{ w: string; c: number }>
  const targets = rows.map((r) => r.w)
  const hit = [...new Set(rows.map((r) => r.c))]
  ctx.log(`  ${targets.length} sent messages in ${hit.length} campaigns`)
  const at = new Date()
  const resetToSent = async (used: string[]) => {
    for (let i = 0; i < used.length; i += 50_000) {
      await ctx.rawPool.query(`UPDATE messages SET status = 'sent', delivered_at = NULL WHERE whatsapp_message_id = ANY($1::varchar[])`, [used.slice(i, i + 50_000)])
    }
  }

  const run = async (sessions: number, batch: number, rulesOn: boolean, during?: (done: Promise<unknown>) => Promise<void>) => {
    let next = 0
    const step = async (_w: number, pool: pg.Pool) => {
      const db: ApiDb = { prisma: ctx.prisma, pool }
      const slice = targets.slice(next, next + batch)
      next += slice.length
      if (slice.length === 0) return 0
      if (batch === 1) await recordDeliveryStatus(db, slice[0]!, 'DELIVERED', at)
      else await recordDeliveryStatuses(db, slice.map((w) => ({ waMessageId: w, status: 'DELIVERED' as const, at })))
      return slice.length
    }
    const go = async () => {
      const work = concurrently(ctx.url, sessions, ctx.opts.duration, step)
      const side = during?.(work)
      const r = await work
      await side
      await resetToSent(targets.slice(0, next))
      return r
    }
    const r = rulesOn ? await go() : await withUserTriggersOff(ctx.rawPool, 'messages', go)
    const exhausted = next >= targets.length ? ' (ran out of sent messages: raise --scale or lower --duration)' : ''
    ctx.log(`  ${sessions} session(s), ${batch === 1 ? 'single' : `batch ${batch}`}, rules ${rulesOn ? 'on ' : 'off'}: ${r.units} statuses in ${r.seconds.toFixed(1)} s = ${Math.round(r.rate)}/s${exhausted}`)
    return r.rate
  }

  // The dashboard: campaign performance of the campaigns being hit, one session, in a loop.
  const dashPool = new pg.Pool({ connectionString: ctx.url, max: 1 })
  const dash: ApiDb = { prisma: ctx.prisma, pool: dashPool }
  const readLoop = async (until: () => boolean): Promise<number[]> => {
    const times: number[] = []
    for (let i = 0; !until(); i++) {
      const t = performance.now()
      const p: CampaignPerformance | null = await campaignPerformance(dash, hit[i % hit.length]!)
      times.push(performance.now() - t)
      if (!p) throw new Error('campaign performance returned nothing')
    }
    return times.sort((a, b) => a - b)
  }
  const loaded: number[] = []
  try {
    const idleEnd = performance.now() + Math.min(2, ctx.opts.duration) * 1000
    const idle = await readLoop(() => performance.now() > idleEnd)
    for (const sessions of SESSIONS) {
      for (const batch of [1, BATCH]) {
        const watchDashboard = sessions === 8 && batch === 1
        // ROUNDS rounds, alternating which side goes first (on/off, off/on, ...), and the median
        // of each side: a drift in the machine's load falls on both, and one noisy run decides
        // nothing.
        const rates: Record<'on' | 'off', number[]> = { on: [], off: [] }
        for (let round = 0; round < ROUNDS; round++) {
          for (const on of round % 2 === 0 ? [true, false] : [false, true]) {
            // The dashboard session reads in both runs (the same extra load on each side of the
            // ratio); its latencies count from the runs with the rules on.
            rates[on ? 'on' : 'off'].push(await run(sessions, batch, on, watchDashboard
              ? async (work) => {
                  let done = false
                  void work.finally(() => (done = true))
                  const times = await readLoop(() => done)
                  if (on) loaded.push(...times)
                }
              : undefined))
          }
        }
        const rate = { on: median(rates.on), off: median(rates.off) }
        const mode = batch === 1 ? 'one status per call' : `batches of ${batch}`
        compare(ctx.rows, { op: 'h. webhooks, concurrent', path: `${sessions} session(s), ${mode}, rules on (vs triggers off)`, metric: 'statuses/s', value: rate.on, raw: rate.off, note: `limit: the same statements with messages' user triggers off; median of ${ROUNDS} alternating rounds (on ${rates.on.map((r) => Math.round(r)).join(', ')}; off ${rates.off.map((r) => Math.round(r)).join(', ')})` }, { atLeast: 0.8 })
        if (batch === BATCH && sessions === 8) {
          ctx.rows.push({ op: 'h. webhooks, concurrent', path: `8 sessions, batches of ${BATCH}, rules on: absolute`, metric: 'statuses/s', value: rate.on, target: '>= 20,000/s', ok: rate.on >= 20_000 })
        }
      }
    }
    loaded.sort((a, b) => a - b)
    const p99 = percentile(loaded, 99)
    const idleP99 = percentile(idle, 99)
    ctx.log(`  dashboard (campaign performance) p99: ${p99.toFixed(3)} ms during 8-session webhooks, ${idleP99.toFixed(3)} ms idle (${loaded.length} and ${idle.length} reads)`)
    compare(ctx.rows, { op: 'h. dashboard during webhooks', path: 'campaign performance, 8 webhook sessions running', metric: 'p99 ms', value: p99, raw: idleP99, target: '-', note: `limit: the same reads on the idle database; ${loaded.length} reads, p50 ${percentile(loaded, 50).toFixed(3)} ms` }, {})
  } finally {
    await dashPool.end()
  }
}
