// l. Webhooks that batch themselves: concurrent callers, each sending one status per call
// and awaiting it (a webhook receiver's request handlers), through the api
// (api.recordDeliveryStatus, coalesced into recordDeliveryStatuses statements by
// src/api/coalesce.ts) against the same callers each sending one UPDATE per status
// straight through pg (the API's single-status statement, named; one connection per
// caller), side by side: alternating rounds, the median of each side. Also the api with
// coalescing off, the latency one call sees, and a lone caller's added latency.
// Runs: 8 callers (the target), 8 callers with synchronous_commit = off on every side (the
// WAL flush taken out: what is left is the statements' own cost), 32 callers.
// Self-contained (its own campaign and sent messages): `--only=coalesce` runs it alone.
import pg from 'pg'

import { createApi, type WatifyApi } from '../../src/api/index.ts'
import { recordDeliveryStatement } from '../../src/api/messages.ts'
import { type BenchContext, median, percentile } from '../harness.ts'
import { compare } from '../report.ts'

const ROUNDS = 3

interface RunResult {
  rate: number
  p50: number
  p99: number
  n: number
}

export async function coalescedWebhooks(ctx: BenchContext): Promise<void> {
  const messages = Math.max(20_000, Math.round(200_000 * Math.min(ctx.opts.scale, 1)))
  ctx.log(`\nl. webhooks that batch themselves (one status per call, each caller awaiting it; ${ctx.opts.duration} s per run; ${messages} sent messages):`)
  const [c] = (await ctx.rawPool.query(`INSERT INTO campaigns (name, body, status, started_at) VALUES ('bench coalesce', 'Hi', 'running', now()) RETURNING id`)).rows as Array<{ id: number }>
  await ctx.rawPool.query(
    `INSERT INTO messages (campaign_id, direction, body, status, sent_at, whatsapp_message_id)
     SELECT $1, 'outbound', 'x', 'sent', now(), 'wamid.coalesce.' || g FROM generate_series(1, $2::int) g`,
    [c!.id, messages],
  )
  await ctx.rawPool.query('VACUUM ANALYZE messages')
  const targets = Array.from({ length: messages }, (_, i) => `wamid.coalesce.${i + 1}`)
  const at = new Date()
  let exhausted = false

  // One run: `callers` loops for `duration` seconds, each awaiting one status at a time;
  // then the messages it moved go back to `sent` (the counters follow).
  const run = async (callers: number, send: (caller: number, wamid: string) => Promise<unknown>): Promise<RunResult> => {
    let next = 0
    const times: number[] = []
    const t0 = performance.now()
    const deadline = t0 + ctx.opts.duration * 1000
    await Promise.all(
      Array.from({ length: callers }, async (_, caller) => {
        while (performance.now() < deadline && next < targets.length) {
          const w = targets[next++]!
          const t = performance.now()
          await send(caller, w)
          times.push(performance.now() - t)
        }
      }),
    )
    const seconds = (performance.now() - t0) / 1000
    if (next >= targets.length) exhausted = true
    for (let i = 0; i < next; i += 50_000) {
      await ctx.rawPool.query(`UPDATE messages SET status = 'sent', delivered_at = NULL WHERE whatsapp_message_id = ANY($1::varchar[])`, [targets.slice(i, Math.min(next, i + 50_000))])
    }
    times.sort((a, b) => a - b)
    return { rate: next / seconds, p50: percentile(times, 50), p99: percentile(times, 99), n: next }
  }

  const measure = async (callers: number, durable: boolean) => {
    const config = { connectionString: ctx.url, ...(durable ? {} : { options: '-c synchronous_commit=off' }) }
    // Raw: one connection per caller, as webhook handlers each holding one would.
    const rawPools = Array.from({ length: callers }, () => new pg.Pool({ ...config, max: 1 }))
    // The api: one pool of as many connections (the coalescer uses at most 2 of them).
    const apiPool = new pg.Pool({ ...config, max: callers })
    const coalesced = createApi({ prisma: ctx.prisma, pool: apiPool })
    const direct = createApi({ prisma: ctx.prisma, pool: apiPool }, { coalesce: false })
    const viaApi = (api: WatifyApi) => (_: number, w: string) => api.recordDeliveryStatus(w, 'DELIVERED', at)
    const sides = {
      raw: (caller: number, w: string) => rawPools[caller]!.query({ name: 'raw_record_delivery', text: recordDeliveryStatement.text, values: [w, 'delivered', at, null, null] }),
      coalesced: viaApi(coalesced),
      direct: viaApi(direct),
    }
    type Side = keyof typeof sides
    const label = `${callers} callers${durable ? '' : ', synchronous_commit off'}`
    try {
      await Promise.all([...rawPools.map((p) => p.query('SELECT 1')), ...Array.from({ length: callers }, () => apiPool.query('SELECT 1'))])
      const results: Record<Side, RunResult[]> = { raw: [], coalesced: [], direct: [] }
      const orders: Side[][] = [['raw', 'coalesced', 'direct'], ['coalesced', 'direct', 'raw'], ['direct', 'raw', 'coalesced']]
      for (let round = 0; round < ROUNDS; round++) {
        for (const side of orders[round % orders.length]!) {
          const r = await run(callers, sides[side])
          results[side].push(r)
          ctx.log(`  ${label}, ${side.padEnd(9)} round ${round + 1}: ${r.n} statuses = ${Math.round(r.rate)}/s, per call p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms`)
        }
      }
      const stats = coalesced.coalescerStats()!
      const perStatement = (stats.calls / Math.max(1, stats.batches)).toFixed(1)
      ctx.log(`  ${label}: coalescer sent ${stats.calls} calls in ${stats.batches} statements (${perStatement} per statement, largest ${stats.largestBatch}), ${stats.fallbacks} fallbacks`)
      const med = (side: Side, k: 'rate' | 'p50' | 'p99') => median(results[side].map((r) => r[k]))
      const rates = (side: Side) => results[side].map((r) => Math.round(r.rate)).join(', ')
      const op = 'l. webhooks, coalesced'
      compare(ctx.rows, {
        op,
        path: `${label}: api.recordDeliveryStatus (coalesced) vs one UPDATE per status via pg`,
        metric: 'statuses/s',
        value: med('coalesced', 'rate'),
        raw: med('raw', 'rate'),
        ...(durable && callers === 8 ? {} : { target: '-' }),
        note: `median of ${ROUNDS} alternating rounds (api ${rates('coalesced')}; pg ${rates('raw')}); ${perStatement} statuses per statement; per call p50 ${med('coalesced', 'p50').toFixed(3)} vs ${med('raw', 'p50').toFixed(3)} ms, p99 ${med('coalesced', 'p99').toFixed(3)} vs ${med('raw', 'p99').toFixed(3)} ms`,
      }, durable && callers === 8 ? { atLeast: 3 } : {})
      compare(ctx.rows, { op, path: `${label}: api with coalesce: false vs one UPDATE per status via pg`, metric: 'statuses/s', value: med('direct', 'rate'), raw: med('raw', 'rate'), target: '-', note: `before coalescing (${rates('direct')})` }, {})
    } finally {
      await Promise.all(rawPools.map((p) => p.end()))
      await apiPool.end()
    }
  }

  await measure(8, true)
  await measure(8, false)
  await measure(32, true)

  // Alone: a call waits one event-loop turn before its statement is sent.
  const pool = new pg.Pool({ connectionString: ctx.url, max: 2 })
  try {
    const apis = { coalesced: createApi({ prisma: ctx.prisma, pool }), direct: createApi({ prisma: ctx.prisma, pool }, { coalesce: false }) }
    const alone = { coalesced: [] as number[], direct: [] as number[] }
    for (let round = 0; round < ROUNDS; round++) {
      for (const side of round % 2 ? (['direct', 'coalesced'] as const) : (['coalesced', 'direct'] as const)) {
        alone[side].push((await run(1, (_, w) => apis[side].recordDeliveryStatus(w, 'DELIVERED', at))).p50)
      }
    }
    compare(ctx.rows, { op: 'l. webhooks, coalesced', path: '1 caller: latency of one call, coalesced vs coalesce: false', metric: 'p50 ms', value: median(alone.coalesced), raw: median(alone.direct), note: `the added latency of a lone call (one event-loop turn); rounds ${alone.coalesced.map((x) => x.toFixed(3)).join(', ')} vs ${alone.direct.map((x) => x.toFixed(3)).join(', ')} ms` }, { atMost: 1.2 })
  } finally {
    await pool.end()
  }
  if (exhausted) ctx.log('  ! a run ran out of sent messages: raise --scale or lower --duration')
}
