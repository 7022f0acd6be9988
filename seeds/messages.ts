// Messages: the demo campaign fanned out and delivered, a short 1:1 conversation, and the
// volume messages (seeds/volume.ts). Idempotent: messages carry deterministic WhatsApp ids, and the demo
// fan-out only runs for a campaign that has none yet.
import type { WatifyApi } from '../src/api/index.ts'
import type pg from 'pg'

import type { Campaign, PrismaClient, Subscriber, User } from '../src/generated/prisma/client.ts'
import { insertVolumeMessages } from './volume.ts'

const T0 = new Date('2025-03-10T08:00:00Z')
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000)

/**
 * Fans the campaign out, then walks its messages through the sender and the delivery
 * webhooks (src/api, as the backend does): sent, then delivered / read / failed.
 */
export async function seedDeliveredCampaign(prisma: PrismaClient, api: WatifyApi, campaign: Campaign): Promise<void> {
  if (campaign.totalRecipients > 0 || campaign.status !== 'DRAFT') return
  await api.fanOutCampaign(campaign.id)
  // The fan-out set started_at; the walk's times follow it.
  const { startedAt } = await prisma.campaign.findUniqueOrThrow({ where: { id: campaign.id }, select: { startedAt: true } })
  const at = (seconds: number) => new Date(startedAt!.getTime() + seconds * 1000)
  const messages = await prisma.message.findMany({ where: { campaignId: campaign.id }, orderBy: { id: 'asc' } })
  for (const [i, m] of messages.entries()) {
    const wamid = `wamid.demo.${campaign.id}.${m.subscriberId}`
    await api.markMessageSent(m.id, wamid, at(1 + i))
    if (i % 5 === 4) {
      await api.recordDeliveryStatus(wamid, 'FAILED', at(10 + i), { code: '131026', reason: 'Message undeliverable' })
      continue
    }
    if (i % 5 <= 2) await api.recordDeliveryStatus(wamid, 'DELIVERED', at(30 + i))
    if (i % 5 <= 1) await api.recordDeliveryStatus(wamid, 'READ', at(300 + i))
  }
  await prisma.campaign.update({ where: { id: campaign.id }, data: { status: 'COMPLETED', completedAt: at(3600) } })
}

/** An inbound question and the agent's answer (1:1, no campaign). */
export async function seedConversation(prisma: PrismaClient, subscriber: Subscriber, agent: User): Promise<void> {
  const rows = [
    { whatsappMessageId: `wamid.demo.in.${subscriber.id}.1`, direction: 'INBOUND' as const, status: 'RECEIVED' as const, body: 'Hi, is the offer valid in Abu Dhabi too?', createdAt: at(4000) },
    { whatsappMessageId: `wamid.demo.out.${subscriber.id}.1`, direction: 'OUTBOUND' as const, status: 'READ' as const, body: 'Yes, in all our branches!', senderUserId: agent.id, createdAt: at(4060), sentAt: at(4061), deliveredAt: at(4062), readAt: at(4100) },
  ]
  // Not skipDuplicates: on the partitioned messages the WhatsApp id's uniqueness is a trigger's
  // (010), which raises instead of skipping; a re-run skips the rows that exist.
  const have = new Set((await prisma.message.findMany({ where: { whatsappMessageId: { in: rows.map((r) => r.whatsappMessageId) } }, select: { whatsappMessageId: true } })).map((m) => m.whatsappMessageId))
  const missing = rows.filter((r) => !have.has(r.whatsappMessageId))
  if (missing.length) await prisma.message.createMany({ data: missing.map((r) => ({ ...r, subscriberId: subscriber.id, type: 'TEXT' as const })) })
}

export const LOAD_CAMPAIGNS = 10

/**
 * `count` volume messages (seeds/volume.ts) across LOAD_CAMPAIGNS running campaigns owned
 * by `owner` (found by name, created when missing), after the volume subscribers.
 */
export async function seedLoadMessages(prisma: PrismaClient, pool: pg.Pool, owner: User, count: number, progress: (line: string) => void): Promise<number> {
  const campaignIds: number[] = []
  for (let k = 1; k <= LOAD_CAMPAIGNS; k++) {
    const name = `Load campaign ${k}`
    const existing = await prisma.campaign.findFirst({ where: { ownerId: owner.id, name }, orderBy: { id: 'asc' } })
    const c = existing ?? (await prisma.campaign.create({ data: { ownerId: owner.id, name, status: 'RUNNING', startedAt: T0, body: `Load test broadcast ${k}`, targetTags: ['news'] } }))
    campaignIds.push(c.id)
  }
  const inserted = await insertVolumeMessages(pool, campaignIds, count, progress)
  await pool.query('ANALYZE messages')
  return inserted
}
