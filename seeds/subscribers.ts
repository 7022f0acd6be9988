// Subscribers and their group memberships. Idempotent: upsert on phone, memberships with
// skipDuplicates. Volume subscribers come from seeds/volume.ts.
import type { OptStatus, PrismaClient, Subscriber, WhatsappGroup } from '../src/generated/prisma/client.ts'

export interface SubscriberSeed {
  phone: string
  name: string
  tags: string[]
  status: OptStatus
  groups?: number[] // indexes into the seeded groups
}

const CONSENT_AT = new Date('2025-01-15T09:00:00Z')
const OPT_OUT_AT = new Date('2025-03-01T18:30:00Z')

export const DEMO_SUBSCRIBERS: readonly SubscriberSeed[] = [
  { phone: '+971501234501', name: 'Layla Hassan', tags: ['vip', 'dubai'], status: 'OPTED_IN', groups: [0, 1] },
  { phone: '+971501234502', name: 'Yousef Ali', tags: ['vip', 'abu-dhabi'], status: 'OPTED_IN', groups: [0] },
  { phone: '+971501234503', name: 'Fatima Noor', tags: ['dubai', 'fashion'], status: 'OPTED_IN', groups: [1] },
  { phone: '+971501234504', name: 'Khalid Omar', tags: ['dubai', 'tech'], status: 'OPTED_IN', groups: [1] },
  { phone: '+971501234505', name: 'Mariam Saeed', tags: ['vip', 'fashion'], status: 'OPTED_IN' },
  { phone: '+971501234506', name: 'Hassan Karim', tags: ['tech'], status: 'OPTED_IN' },
  { phone: '+971501234507', name: 'Noura Salem', tags: ['vip', 'dubai'], status: 'OPTED_OUT', groups: [0] },
  { phone: '+971501234508', name: 'Rashid Ahmed', tags: ['abu-dhabi'], status: 'PENDING' },
  { phone: '+966501234509', name: 'Aisha Rahman', tags: ['riyadh', 'vip'], status: 'OPTED_IN' },
  { phone: '+447700900510', name: 'James Carter', tags: ['london', 'tech'], status: 'OPTED_IN' },
]

function consent(status: OptStatus) {
  switch (status) {
    case 'OPTED_IN':
      return { optStatus: status, optedInAt: CONSENT_AT, optInMethod: 'WEB_FORM' as const }
    case 'OPTED_OUT':
      return { optStatus: status, optedInAt: CONSENT_AT, optInMethod: 'WEB_FORM' as const, optedOutAt: OPT_OUT_AT, optOutMethod: 'WHATSAPP_KEYWORD' as const, optOutReason: 'Sent STOP' }
    default:
      return { optStatus: status }
  }
}

export async function seedSubscribers(prisma: PrismaClient, groups: readonly WhatsappGroup[], subscribers: readonly SubscriberSeed[] = DEMO_SUBSCRIBERS): Promise<Subscriber[]> {
  const out: Subscriber[] = []
  for (const s of subscribers) {
    const data = { name: s.name, tags: s.tags, ...consent(s.status) }
    out.push(await prisma.subscriber.upsert({ where: { phone: s.phone }, create: { phone: s.phone, ...data }, update: data }))
  }
  const memberships = subscribers.flatMap((s, i) => (s.groups ?? []).map((g) => ({ groupId: groups[g]!.id, subscriberId: out[i]!.id })))
  await prisma.groupMember.createMany({ data: memberships, skipDuplicates: true })
  return out
}
