// c. One delivery webhook at a time: each call moves a different `sent` message to `delivered`.
import { recordDeliveryStatement } from '../../src/api/messages.ts'
import { type BenchContext, latency, rawRows } from '../harness.ts'
import { ormRecordDelivery } from '../orm.ts'

export async function webhookLatency(ctx: BenchContext): Promise<{ example: unknown[] }> {
  const n = ctx.opts.iterations + 20
  const sent = (await ctx.rawPool.query(`SELECT whatsapp_message_id AS w FROM messages WHERE status = 'sent' ORDER BY id LIMIT $1`, [n * 4])).rows.map((r: { w: string }) => r.w)
  if (sent.length < n * 4) throw new Error(`dataset has only ${sent.length} sent messages, ${n * 4} needed: raise --scale or lower --iterations`)
  const at = new Date()
  await latency(
    ctx,
    'c. delivery webhook',
    {
      'API fast path (pg pool)': (i) => ctx.fast.recordDeliveryStatus(sent[i * 4 + 1]!, 'DELIVERED', at),
      'API via Prisma $queryRaw': (i) => ctx.viaPrisma.recordDeliveryStatus(sent[i * 4 + 2]!, 'DELIVERED', at),
      'ORM only (findUnique + updateMany)': (i) => ormRecordDelivery(ctx.prisma, sent[i * 4 + 3]!, 'DELIVERED', at),
    },
    (i) => rawRows(ctx, recordDeliveryStatement, [sent[i * 4]!, 'delivered', at, null, null]),
  )
  return { example: [sent[0]!, 'delivered', at, null, null] }
}
