// f. One subscriber's history: even iterations the newest page, odd ones the page after a cursor.
import { encodeHistoryCursor } from '../../src/api/index.ts'
import { historyFirstPage, historyNextPage } from '../../src/api/messages.ts'
import { type BenchContext, latency, rawRows } from '../harness.ts'
import { ormHistory } from '../orm.ts'

export const HISTORY_LIMIT = 20

export interface HistorySubject {
  id: number
  cursor: { createdAt: Date; id: bigint } | null
}

/** Opted-in subscribers with the (created_at, id) of their second newest message. */
export async function historySubjects(ctx: BenchContext, n: number): Promise<HistorySubject[]> {
  const rows = (
    await ctx.rawPool.query(
      `SELECT s.id, m.created_at AS c_at, m.id::text AS c_id
         FROM subscribers s
         LEFT JOIN LATERAL (SELECT created_at, id FROM messages WHERE subscriber_id = s.id ORDER BY created_at DESC, id DESC OFFSET 1 LIMIT 1) m ON true
        WHERE s.opt_status = 'opted_in' AND s.id % 97 = 1 ORDER BY s.id LIMIT $1`,
      [n],
    )
  ).rows as Array<{ id: number; c_at: Date | null; c_id: string | null }>
  return rows.map((r) => ({ id: r.id, cursor: r.c_at && r.c_id ? { createdAt: r.c_at, id: BigInt(r.c_id) } : null }))
}

export async function historyLatency(ctx: BenchContext): Promise<HistorySubject[]> {
  const subs = await historySubjects(ctx, ctx.opts.iterations + 20)
  const hist = (i: number) => subs[i % subs.length]!
  // The API's own cursor encoding: the page after the subject's second newest message.
  const apiCursor = (s: HistorySubject) => (s.cursor ? encodeHistoryCursor(s.cursor) : null)
  const limit = HISTORY_LIMIT
  await latency(
    ctx,
    'f. subscriber history (limit 20)',
    {
      'API fast path (pg pool)': (i) => ctx.fast.subscriberHistory(hist(i).id, { limit, cursor: i % 2 ? apiCursor(hist(i)) : null }),
      'API via Prisma $queryRaw': (i) => ctx.viaPrisma.subscriberHistory(hist(i).id, { limit, cursor: i % 2 ? apiCursor(hist(i)) : null }),
      'ORM only (findMany, OR keyset)': (i) => ormHistory(ctx.prisma, hist(i).id, limit, (i % 2 && hist(i).cursor) || undefined),
    },
    (i) => {
      const s = hist(i)
      const c = i % 2 ? s.cursor : null
      return c ? rawRows(ctx, historyNextPage, [s.id, limit + 1, c.createdAt, c.id.toString()]) : rawRows(ctx, historyFirstPage, [s.id, limit + 1])
    },
  )
  return subs
}
