// e. Audience size of a tag expression (opted-in subscribers).
import type { TagExpression } from '../../src/api/index.ts'
import { audienceStatement } from '../../src/api/subscribers.ts'
import { type BenchContext, latency, rawRows } from '../harness.ts'
import { ormAudienceSize } from '../orm.ts'

export const AUDIENCE: TagExpression = { all: ['vip'], any: ['news', 'promo'], none: ['churned'] }
export const audienceParams = [AUDIENCE.all, AUDIENCE.any, AUDIENCE.none]
export const audienceStmt = audienceStatement(true, true, true)

export async function audienceLatency(ctx: BenchContext): Promise<void> {
  await latency(
    ctx,
    'e. audience size',
    {
      'API fast path (pg pool)': () => ctx.fast.audienceSize(AUDIENCE),
      'API via Prisma $queryRaw': () => ctx.viaPrisma.audienceSize(AUDIENCE),
      'ORM only (count)': () => ormAudienceSize(ctx.prisma, AUDIENCE),
    },
    () => rawRows(ctx, audienceStmt, audienceParams),
  )
}
