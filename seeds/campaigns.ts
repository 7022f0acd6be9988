// Campaigns. Campaigns have no natural unique key in the schema (names may repeat), so the
// seed treats (owner, name) as its key: find first, create when missing, otherwise update.
import type { Campaign, CampaignStatus, MessageType, Prisma, PrismaClient, TagMatch, User, WhatsappGroup } from '../src/generated/prisma/client.ts'

export interface CampaignSeed {
  name: string
  description?: string
  status: Extract<CampaignStatus, 'DRAFT' | 'SCHEDULED'>
  messageType?: MessageType
  body?: string
  templateName?: string
  templateLanguage?: string
  mediaUrl?: string
  mediaMimeType?: string
  scheduledAt?: Date
  timezone?: string
  targetTags?: string[]
  targetTagMatch?: TagMatch
  groups?: number[] // indexes into the seeded groups
}

export const DEMO_CAMPAIGNS: readonly CampaignSeed[] = [
  {
    name: 'Ramadan offers',
    description: 'Sent to VIPs and the VIP group; fanned out and delivered by the seed',
    status: 'DRAFT',
    messageType: 'IMAGE',
    body: 'Ramadan Kareem! 20% off for our VIPs this week.',
    mediaUrl: 'https://cdn.watify.test/media/ramadan.jpg',
    mediaMimeType: 'image/jpeg',
    targetTags: ['vip'],
    groups: [0],
  },
  {
    name: 'Weekend flash sale',
    status: 'SCHEDULED',
    messageType: 'TEMPLATE',
    templateName: 'flash_sale_v2',
    templateLanguage: 'en_US',
    scheduledAt: new Date('2030-01-03T06:00:00Z'),
    timezone: 'Asia/Dubai',
    targetTags: ['dubai', 'fashion'],
    targetTagMatch: 'ALL',
  },
  { name: 'New catalog (draft)', status: 'DRAFT', body: 'Our new catalog is out!', targetTags: ['tech'] },
]

export async function seedCampaign(prisma: PrismaClient, owner: User, groups: readonly WhatsappGroup[], c: CampaignSeed): Promise<Campaign> {
  const data = {
    description: c.description ?? null,
    messageType: c.messageType ?? 'TEXT',
    body: c.body ?? null,
    templateName: c.templateName ?? null,
    templateLanguage: c.templateLanguage ?? null,
    mediaUrl: c.mediaUrl ?? null,
    mediaMimeType: c.mediaMimeType ?? null,
    scheduledAt: c.scheduledAt ?? null,
    timezone: c.timezone ?? 'UTC',
    targetTags: c.targetTags ?? [],
    targetTagMatch: c.targetTagMatch ?? 'ANY',
  } satisfies Prisma.CampaignUncheckedUpdateInput
  const existing = await prisma.campaign.findFirst({ where: { ownerId: owner.id, name: c.name }, orderBy: { id: 'asc' } })
  // An existing campaign keeps its status: the seed may have moved it on (fan-out, completion).
  const campaign = existing
    ? await prisma.campaign.update({ where: { id: existing.id }, data })
    : await prisma.campaign.create({ data: { ...data, ownerId: owner.id, name: c.name, status: c.status } })
  await prisma.campaignGroup.createMany({ data: (c.groups ?? []).map((g) => ({ campaignId: campaign.id, groupId: groups[g]!.id })), skipDuplicates: true })
  return campaign
}

export async function seedCampaigns(prisma: PrismaClient, owner: User, groups: readonly WhatsappGroup[], campaigns: readonly CampaignSeed[] = DEMO_CAMPAIGNS): Promise<Campaign[]> {
  const out: Campaign[] = []
  for (const c of campaigns) out.push(await seedCampaign(prisma, owner, groups, c))
  return out
}
