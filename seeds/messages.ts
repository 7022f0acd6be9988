// Messages: the demo campaign fanned out and delivered, a short 1:1 conversation, and the
// bulk generator. Idempotent: messages carry deterministic WhatsApp ids, and the demo
// fan-out only runs for a campaign that has none yet.
import type { WatifyApi } from '../src/api/index.ts'
import type { Campaign, PrismaClient, Subscriber, User } from '../src/generated/prisma/client.ts'
import { LOAD_PHONE_PREFIX } from './subscribers.ts'

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
  await prisma.message.createMany({ data: rows.map((r) => ({ ...r, subscriberId: subscriber.id, type: 'TEXT' as const })), skipDuplicates: true })
}

export const LOAD_CAMPAIGNS = 10

/**
 * `count` generated messages over the load subscribers: 90% outbound across LOAD_CAMPAIGNS
 * running campaigns (opted-in subscribers only, each at most once per campaign), 10% inbound
 * replies; statuses spread over read / delivered / sent / failed / queued. Bulk SQL in chunks.
 */
export async function seedLoadMessages(prisma: PrismaClient, owner: User, count: number, progress: (line: string) => void, chunk = 50_000): Promise<number> {
  const campaignIds: number[] = []
  for (let k = 1; k <= LOAD_CAMPAIGNS; k++) {
    const name = `Load campaign ${k}`
    const existing = await prisma.campaign.findFirst({ where: { ownerId: owner.id, name }, orderBy: { id: 'asc' } })
    const c = existing ?? (await prisma.campaign.create({ data: { ownerId: owner.id, name, status: 'RUNNING', startedAt: T0, body: `Load test broadcast ${k}`, targetTags: ['offers'] } }))
    campaignIds.push(c.id)
  }
  const [{ n: subscribers } = { n: 0n }] = await prisma.$queryRaw<Array<{ n: bigint }>>`
    SELECT count(*) AS n FROM subscribers WHERE phone LIKE ${LOAD_PHONE_PREFIX + '%'} AND opt_status = 'opted_in'`
  const nsubs = Number(subscribers)
  if (count > 0 && nsubs === 0) throw new Error('--messages needs load subscribers: add --subscribers=N (e.g. --subscribers=200000)')
  if (count > nsubs * LOAD_CAMPAIGNS) throw new Error(`--messages=${count} is more than ${LOAD_CAMPAIGNS} campaigns x ${nsubs} opted-in load subscribers; raise --subscribers`)
  let inserted = 0
  for (let from = 1; from <= count; from += chunk) {
    const to = Math.min(count, from + chunk - 1)
    inserted += await prisma.$executeRaw`
      WITH subs AS MATERIALIZED (
        -- one array of ids, indexed by position: no join for the planner to get wrong
        SELECT array_agg(id ORDER BY id) AS ids
          FROM subscribers WHERE phone LIKE ${LOAD_PHONE_PREFIX + '%'} AND opt_status = 'opted_in'
      ), gen AS (
        SELECT j, timestamptz '2025-01-01' + j * interval '2 seconds' AS t,
               CASE WHEN j % 10 = 0 THEN 'inbound' ELSE 'outbound' END::message_direction AS direction,
               CASE WHEN j % 10 = 0 THEN 'received'
                    WHEN j % 100 < 60 THEN 'read' WHEN j % 100 < 80 THEN 'delivered'
                    WHEN j % 100 < 90 THEN 'sent' WHEN j % 100 < 95 THEN 'failed' ELSE 'queued' END::message_status AS status
          FROM generate_series(${from}::int, ${to}::int) AS j
      )
      INSERT INTO messages (subscriber_id, campaign_id, direction, type, body, whatsapp_message_id, status,
                            error_code, error_reason, created_at, sent_at, delivered_at, read_at, failed_at)
      SELECT s.ids[1 + (g.j - 1) % ${nsubs}::int],
             CASE WHEN g.direction = 'outbound' THEN (${campaignIds}::int[])[1 + ((g.j - 1) / ${nsubs}::int) % ${LOAD_CAMPAIGNS}::int] END,
             g.direction, 'text',
             CASE WHEN g.direction = 'inbound' THEN 'Thanks!' ELSE 'Load test broadcast' END,
             'wamid.seed.' || g.j, g.status,
             CASE WHEN g.status = 'failed' THEN '131026' END,
             CASE WHEN g.status = 'failed' THEN 'Message undeliverable' END,
             g.t,
             CASE WHEN g.status IN ('sent', 'delivered', 'read') THEN g.t + interval '1 second' END,
             CASE WHEN g.status IN ('delivered', 'read') THEN g.t + interval '5 seconds' END,
             CASE WHEN g.status = 'read' THEN g.t + interval '60 seconds' END,
             CASE WHEN g.status = 'failed' THEN g.t + interval '3 seconds' END
        FROM gen g CROSS JOIN subs s
      -- both unique rules: the WhatsApp id (a re-run) and one message per subscriber per campaign
      ON CONFLICT DO NOTHING`
    progress(`Messages: ${to}/${count}`)
  }
  await prisma.$executeRawUnsafe('ANALYZE messages')
  return inserted
}
