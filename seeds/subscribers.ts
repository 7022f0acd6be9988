// Subscribers and their group memberships. Idempotent: upsert on phone, memberships with
// skipDuplicates. The bulk generator inserts in chunks with ON CONFLICT (phone) DO NOTHING.
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

export const LOAD_PHONE_PREFIX = '+1555'
const LOAD_TAGS = ['news', 'offers', 'vip', 'sports', 'tech', 'fashion', 'food', 'travel']

/**
 * `count` generated subscribers with phones +1555 0000001...: every 20th opted out, every
 * 20th + 1 pending, the rest opted in; two tags each (a topic and a city). Bulk SQL in chunks.
 */
export async function seedLoadSubscribers(prisma: PrismaClient, count: number, progress: (line: string) => void, chunk = 50_000): Promise<number> {
  if (count > 9_999_999) throw new Error('--subscribers is at most 9999999 (the generated phone numbers have 7 digits)')
  let inserted = 0
  for (let from = 1; from <= count; from += chunk) {
    const to = Math.min(count, from + chunk - 1)
    inserted += await prisma.$executeRaw`
      INSERT INTO subscribers (phone, name, tags, opt_status, opted_in_at, opt_in_method, opted_out_at, opt_out_method, created_at)
      SELECT ${LOAD_PHONE_PREFIX} || lpad(i::text, 7, '0'),
             'Load subscriber ' || i,
             ARRAY[(${LOAD_TAGS}::text[])[1 + i % 8], 'city-' || (i % 20)],
             CASE i % 20 WHEN 0 THEN 'opted_out' WHEN 1 THEN 'pending' ELSE 'opted_in' END::opt_status,
             CASE WHEN i % 20 <> 1 THEN timestamptz '2025-01-01' + i * interval '1 second' END,
             CASE WHEN i % 20 <> 1 THEN 'import' END::consent_method,
             CASE WHEN i % 20 = 0 THEN timestamptz '2025-06-01' + i * interval '1 second' END,
             CASE WHEN i % 20 = 0 THEN 'whatsapp_keyword' END::consent_method,
             timestamptz '2025-01-01' + i * interval '1 second'
        FROM generate_series(${from}::int, ${to}::int) AS i
      ON CONFLICT (phone) DO NOTHING`
    progress(`Subscribers: ${to}/${count}`)
  }
  // Fresh statistics, so the queries that follow (and a benchmark) plan for the real volume.
  await prisma.$executeRawUnsafe('ANALYZE subscribers')
  return inserted
}
