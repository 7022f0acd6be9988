// i. Webhooks that batch themselves: 8 concurrent callers, each sending one status per
// call and awaiting it (a webhook receiver's request handlers), through the api
// (api.recordDeliveryStatus, coalesced into recordDeliveryStatuses statements by
// src/api/coalesce.ts) against the same callers each sending one UPDATE per status
// straight through pg (the API's single-status statement, named, one connection per
// caller), side by side: alternating rounds, the median of each. Also: the same api with
// coalescing off, and the latency one call sees (p50/p99) on each side, alone and under
// load. Self-contained (its own campaign and sent messages), so `--only=coalesce` runs it
// on a freshly migrated database without the dataset.
import pg from 'pg'

import { createApi, type WatifyApi } from '../../src/api/index.ts'
import { recordDeliveryStatement } from '../../src/api/messages.ts'
import { type BenchContext, median, percentile } from '../harness.ts'
import { compare } from '../report.ts'

const CALLERS = 8
const ROUNDS = 3

export async function coalescedWebhooks(ctx: BenchContext): Promise<void> {
  const messages = Math.max(20_000, Math.round(200_000 * Math.min(ctx.opts.scale, 1)))
  ctx.log(`\ni. webhooks that batch themselves (${CALLERS} concurrent callers, one status per call; ${ctx.opts.duration} s per run; ${messages} sent messages):`)
  const [c] = (await ctx.rawPool.query(`INSERT INTO campaigns (name, body, status, started_at) VALUES ('bench coalesce', 'Hi', 'running', now()) RETURNING id`)).rows as Array<{ id: number }>
  const campaignId = c!.id
  await ctx.rawPool.query(
    `INSERT INTO messages (campaign_id, direction, body, status, sent_at, whatsapp_message_id)
     SELECT $1, 'outbound', 'x', 'sent', now(), 'wamid.coalesce.' || g FROM generate_series(1, $2::int) g`,
    [campaignId, messages],
  )
  await ctx.rawPool.query('VACUUM ANALYZE messages')
  const targets = Array.from({ length: messages }, (_, i) => `wamid.coalesce.${i + 1}`)
  const at = new Date()
  const reset = async (used: number) => {
    for (let i = 0; i < used; i += 50_000) {
      await ctx.rawPool.query(`UPDATE messages SET status = 'sent', delivered_at = NULL WHERE whatsapp_message_id = ANY($1::varchar[])`, [targets.slice(i, Math.min(used, i + 50_000))])
    }
  }

  // One run: `callers` loops for `duration` seconds, each awaiting one status at a time.
  const run = async (callers: number, send: (wamid: string) => Promise<unknown>) => {
    let next = 0
    const times: number[] = []
    const t0 = performance.now()
    const deadline = t0 + ctx.opts.duration * 1000
    await Promise.all(
      Array.from({ length: callers }, async () => {
        while (performance.now() < deadline && next < targets.length) {
          const w = targets[next++]!
          const t = performance.now()
          await send(w)
          times.push(performance.now() - t)
        }
      }),
    )
    const seconds = (performance.now() - t0) / 1000
    await reset(next)
    times.sort((a, b) => a - b)
    const exhausted = next >= targets.length ? ' (ran out of messages: raise --scale or lower --duration)' : ''
    return { rate: next / seconds, p50: percentile(times, 50), p99: percentile(times, 99), n: next, exhausted }
  }

  // Raw: one pg connection per caller, as 8 webhook handlers each holding one would.
  const rawPools = Array.from({ length: CALLERS }, () => new pg.Pool({ connectionString: ctx.url, max: 1 }))
  let rr = 0
  const rawSend = (w: string) => rawPools[rr++ % CALLERS]!.query({ name: 'raw_record_delivery', text: recordDeliveryStatement.text, values: [w, 'delivered', at, null, null] })
  // The api gets a pool of the same size (the coalescer uses at most 2 of its connections).
  const apiPool = new pg.Pool({ connectionString: ctx.url, max: CALLERS })
  const coalesced: WatifyApi = createApi({ prisma: ctx.prisma, pool: apiPool })
  const direct: WatifyApi = createApi({ prisma: ctx.prisma, pool: apiPool }, { coalesce: false })
  const viaApi = (api: WatifyApi) => (w: string) => api.recordDeliveryStatus(w, 'DELIVERED', at)
  try {
    await Promise.all([...rawPools.map((p) => p.query('SELECT 1')), ...Array.from({ length: CALLERS }, () => apiPool.query('SELECT 1'))])
    const sides = { raw: rawSend, coalesced: viaApi(coalesced), direct: viaApi(direct) }
    type Side = keyof typeof sides
    const results: Record<Side, Array<Awaited<ReturnType<typeof run>>>> = { raw: [], coalesced: [], direct: [] }
    const orders: Side[][] = [['raw', 'coalesced', 'direct'], ['coalesced', 'direct', 'raw'], ['direct', 'raw', 'coalesced']]
    for (let round = 0; round < ROUNDS; round++) {
      for (const side of orders[round % orders.length]!) {
        const r = await run(CALLERS, sides[side])
        results[side].push(r)
        ctx.log(`  ${side.padEnd(9)} round ${round + 1}: ${r.n} statuses = ${Math.round(r.rate)}/s, per call p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms${r.exhausted}`)
      }
    }
    const stats = coalesced.coalescerStats()!
    const med = (side: Side, k: 'rate' | 'p50' | 'p99') => median(results[side].map((r) => r[k]))
    const rates = (side: Side) => results[side].map((r) => Math.round(r.rate)).join(', ')
    ctx.log(`  coalescer: ${stats.calls} calls in ${stats.batches} statements (${(stats.calls / Math.max(1, stats.batches)).toFixed(1)} per statement, largest ${stats.largestBatch}), ${stats.fallbacks} fallbacks`)
    const op = 'i. webhooks, coalesced'
    compare(ctx.rows, {
      op,
      path: `${CALLERS} callers, api.recordDeliveryStatus (coalesced) vs one UPDATE per status via pg`,
      metric: 'statuses/s',
      value: med('coalesced', 'rate'),
      raw: med('raw', 'rate'),
      note: `median of ${ROUNDS} alternating rounds (api ${rates('coalesced')}; pg ${rates('raw')}); ${(stats.calls / Math.max(1, stats.batches)).toFixed(1)} statuses per statement`,
    }, { atLeast: 3 })
    compare(ctx.rows, { op, path: `${CALLERS} callers, api with coalesce: false vs one UPDATE per status via pg`, metric: 'statuses/s', value: med('direct', 'rate'), raw: med('raw', 'rate'), target: '-', note: `what the callers got before coalescing (${rates('direct')})` }, {})
    compare(ctx.rows, { op, path: `${CALLERS} callers, latency of one call: coalesced vs one UPDATE via pg`, metric: 'p99 ms', value: med('coalesced', 'p99'), raw: med('raw', 'p99'), target: '-', note: `p50 ${med('coalesced', 'p50').toFixed(3)} vs ${med('raw', 'p50').toFixed(3)} ms: a call waits for at most the batch ahead of it` }, {})
    // Alone: a call waits one event-loop turn before its statement is sent.
    const alone = { coalesced: [] as number[], direct: [] as number[] }
    for (let round = 0; round < ROUNDS; round++) {
      for (const side of round % 2 ? (['direct', 'coalesced'] as const) : (['coalesced', 'direct'] as const)) {
        alone[side].push((await run(1, viaApi(side === 'coalesced' ? coalesced : direct))).p50)
      }
    }
    compare(ctx.rows, { op, path: '1 caller, latency of one call: coalesced vs coalesce: false', metric: 'p50 ms', value: median(alone.coalesced), raw: median(alone.direct), note: 'the added latency of a lone call (one event-loop turn)' }, { atMost: 1.2 })
  } finally {
    await Promise.all(rawPools.map((p) => p.end()))
    await apiPool.end()
  }
}
