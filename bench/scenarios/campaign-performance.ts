// d. The dashboard's campaign figures (counters: the campaign row plus its shards).
import { campaignPerformanceStatement } from '../../src/api/campaigns.ts'
import { type BenchContext, latency, rawRows } from '../harness.ts'
import { ormCampaignPerformance } from '../orm.ts'

export async function campaignPerformanceLatency(ctx: BenchContext): Promise<void> {
  const cid = (i: number) => (i % ctx.size.campaigns) + 1
  await latency(
    ctx,
    'd. campaign performance',
    {
      'API fast path (pg pool)': (i) => ctx.fast.campaignPerformance(cid(i)),
      'API via Prisma $queryRaw': (i) => ctx.viaPrisma.campaignPerformance(cid(i)),
      'ORM only (findUnique + shards)': (i) => ormCampaignPerformance(ctx.prisma, cid(i)),
    },
    (i) => rawRows(ctx, campaignPerformanceStatement, [cid(i)]),
  )
}
