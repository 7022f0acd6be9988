// i. The sender's queue: 4 senders claiming 100 queued messages per call, rules on and with
// messages' user triggers off (the limit). Claims are released after each run.
import type pg from 'pg'

import { claimQueuedMessages } from '../../src/api/index.ts'
import { type BenchContext, concurrently, withUserTriggersOff } from '../harness.ts'
import { compare } from '../report.ts'

const SENDERS = 4
const PER_CLAIM = 100

export async function senderQueue(ctx: BenchContext): Promise<void> {
  ctx.log(`\ni. sender claims (${SENDERS} senders, ${PER_CLAIM} per claim, ${ctx.opts.duration} s per run):`)
  const rate: Record<string, number> = {}
  for (const on of [false, true]) {
    const seen = new Set<bigint>()
    let duplicates = 0
    const go = async () => {
      const r = await concurrently(ctx.url, SENDERS, ctx.opts.duration, async (_w, pool: pg.Pool) => {
        const got = await claimQueuedMessages({ prisma: ctx.prisma, pool }, PER_CLAIM)
        for (const m of got) (seen.has(m.id) ? duplicates++ : seen.add(m.id))
        return got.length
      })
      await ctx.rawPool.query('UPDATE messages SET claimed_at = NULL WHERE whatsapp_message_id IS NULL AND failed_at IS NULL AND claimed_at IS NOT NULL')
      return r
    }
    const r = on ? await go() : await withUserTriggersOff(ctx.rawPool, 'messages', go)
    if (duplicates) throw new Error(`${duplicates} messages were handed to two senders`)
    ctx.log(`  rules ${on ? 'on ' : 'off'}: ${r.units} messages claimed in ${r.seconds.toFixed(1)} s = ${Math.round(r.rate)}/s, none twice`)
    rate[on ? 'on' : 'off'] = r.rate
  }
  compare(ctx.rows, { op: 'i. sender queue', path: `${SENDERS} senders, ${PER_CLAIM} per claim, rules on (vs triggers off)`, metric: 'claims/s', value: rate.on!, raw: rate.off!, note: 'messages claimed per second; none handed out twice' }, { atLeast: 0.8 })
}
