// WhatsApp groups and their admin assignments. Idempotent: upsert on whatsapp_group_id,
// admin rows inserted with skipDuplicates (their primary key is the natural key).
import type { PrismaClient, User, WhatsappGroup } from '../src/generated/prisma/client.ts'

export interface GroupSeed {
  whatsappGroupId: string
  name: string
  description?: string
  inviteLink?: string
}

export const DEMO_GROUPS: readonly GroupSeed[] = [
  { whatsappGroupId: '120363025246125486@g.us', name: 'VIP Customers', description: 'Early access to offers', inviteLink: 'https://chat.whatsapp.com/AbCdEfGhIjK1' },
  { whatsappGroupId: '120363041987654321@g.us', name: 'Dubai Community', description: 'Events and news in Dubai' },
]

export async function seedGroups(prisma: PrismaClient, admins: readonly User[], groups: readonly GroupSeed[] = DEMO_GROUPS): Promise<WhatsappGroup[]> {
  const out: WhatsappGroup[] = []
  for (const g of groups) {
    const data = { name: g.name, description: g.description ?? null, inviteLink: g.inviteLink ?? null }
    out.push(await prisma.whatsappGroup.upsert({ where: { whatsappGroupId: g.whatsappGroupId }, create: { whatsappGroupId: g.whatsappGroupId, ...data }, update: data }))
  }
  await prisma.groupAdmin.createMany({
    data: out.flatMap((g) => admins.filter((u) => u.role !== 'AGENT').map((u) => ({ groupId: g.id, userId: u.id }))),
    skipDuplicates: true,
  })
  return out
}
