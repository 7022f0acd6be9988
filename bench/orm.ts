// ORM-only versions of the hot paths: what a backend would write with the Prisma
// query API alone. Measured next to the API so docs/performance.md's advice is
// backed by numbers. Not exported to the app: use src/api instead.
import type { PrismaClient } from '../src/generated/prisma/client.ts'
import type { ImportSubscriberRow, TagExpression } from '../src/api/index.ts'

export async function ormImport(prisma: PrismaClient, rows: readonly ImportSubscriberRow[]): Promise<number> {
  // createMany cannot merge (no ON CONFLICT DO UPDATE): insert-only, duplicates skipped.
  const r = await prisma.subscriber.createMany({
    data: rows.map((r) => ({
      phone: r.phone,
      name: r.name ?? null,
      tags: [...(r.tags ?? [])],
      attributes: (r.attributes ?? {}) as object,
      ...(r.optIn ? { optStatus: 'OPTED_IN' as const, optedInAt: r.optIn.at, optInMethod: r.optIn.method ?? 'IMPORT' } : {}),
    })),
    skipDuplicates: true,
  })
  return r.count
}

export async function ormFanOut(prisma: PrismaClient, campaignId: number): Promise<number> {
  const c = await prisma.campaign.findUniqueOrThrow({ where: { id: campaignId }, include: { targetGroups: true } })
  const tagFilter = c.targetTagMatch === 'ALL' ? { hasEvery: c.targetTags } : { hasSome: c.targetTags }
  const subs = await prisma.subscriber.findMany({
    where: {
      optStatus: 'OPTED_IN',
      OR: [{ tags: tagFilter }, { groups: { some: { groupId: { in: c.targetGroups.map((g) => g.groupId) } } } }],
    },
    select: { id: true },
  })
  const done = new Set((await prisma.message.findMany({ where: { campaignId }, select: { subscriberId: true } })).map((m) => m.subscriberId))
  const data = subs
    .filter((s) => !done.has(s.id))
    .map((s) => ({ subscriberId: s.id, campaignId, direction: 'OUTBOUND' as const, type: c.messageType, body: c.body, mediaUrl: c.mediaUrl, status: 'QUEUED' as const }))
  let n = 0
  // 5k-row chunks: the fastest createMany shape measured (a single huge call is slower).
  for (let i = 0; i < data.length; i += 5000) n += (await prisma.message.createMany({ data: data.slice(i, i + 5000) })).count
  await prisma.campaign.update({ where: { id: campaignId }, data: { status: 'RUNNING', startedAt: c.startedAt ?? new Date() } })
  return n
}

const RANK: Record<string, number> = { QUEUED: 0, SENT: 1, DELIVERED: 2, READ: 3 }

/** Read, decide in JS, then compare-and-set on the status read: two round trips. */
export async function ormRecordDelivery(prisma: PrismaClient, wamid: string, status: 'SENT' | 'DELIVERED' | 'READ', at: Date): Promise<boolean> {
  const m = await prisma.message.findUnique({ where: { whatsappMessageId: wamid }, select: { id: true, status: true } })
  if (!m || !(m.status in RANK) || RANK[status]! <= RANK[m.status]!) return false
  const col = status === 'SENT' ? 'sentAt' : status === 'DELIVERED' ? 'deliveredAt' : 'readAt'
  const r = await prisma.message.updateMany({ where: { id: m.id, status: m.status }, data: { status, [col]: at } })
  return r.count === 1
}

/** The campaign row and its counter shards in one query; the sums are added in JS. */
export async function ormCampaignPerformance(prisma: PrismaClient, campaignId: number) {
  const c = await prisma.campaign.findUnique({
    where: { id: campaignId },
    select: {
      id: true, name: true, status: true, totalRecipients: true, sentCount: true, deliveredCount: true, readCount: true, failedCount: true, startedAt: true, completedAt: true,
      counterShards: { select: { total: true, sent: true, delivered: true, read: true, failed: true } },
    },
  })
  if (!c) return null
  const sum = (k: 'total' | 'sent' | 'delivered' | 'read' | 'failed') => c.counterShards.reduce((a, s) => a + s[k], 0)
  return { ...c, total: c.totalRecipients + sum('total'), sent: c.sentCount + sum('sent'), delivered: c.deliveredCount + sum('delivered'), read: c.readCount + sum('read'), failed: c.failedCount + sum('failed') }
}

export function ormAudienceSize(prisma: PrismaClient, e: TagExpression) {
  // One list filter per condition: Prisma accepts only one operator per `tags` object.
  return prisma.subscriber.count({
    where: {
      optStatus: 'OPTED_IN',
      AND: [
        ...(e.all?.length ? [{ tags: { hasEvery: [...e.all] } }] : []),
        ...(e.any?.length ? [{ tags: { hasSome: [...e.any] } }] : []),
        ...(e.none?.length ? [{ NOT: { tags: { hasSome: [...e.none] } } }] : []),
      ],
    },
  })
}

/** Keyset with Prisma's filters: no row comparison, so (a < x) OR (a = x AND b < y). */
export function ormHistory(prisma: PrismaClient, subscriberId: number, limit: number, cursor?: { createdAt: Date; id: bigint }) {
  return prisma.message.findMany({
    where: {
      subscriberId,
      ...(cursor ? { OR: [{ createdAt: { lt: cursor.createdAt } }, { createdAt: cursor.createdAt, id: { lt: cursor.id } }] } : {}),
    },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: limit + 1,
    select: { id: true, campaignId: true, groupId: true, direction: true, type: true, body: true, mediaUrl: true, status: true, whatsappMessageId: true, errorCode: true, createdAt: true, sentAt: true, deliveredAt: true, readAt: true, failedAt: true },
  })
}
