// The core backend flows through the typed client (src/index.ts) against a fresh database.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { createTestDatabase, query, type TestDatabase } from './helpers/db.ts'
import { applyAllMigrations } from './helpers/migrations.ts'

let db: TestDatabase
let api: typeof import('../src/index.ts')

before(async () => {
  db = await createTestDatabase('client_flows')
  await applyAllMigrations(db.url)
  // src/client.ts resolves its URL when first imported: point it at this test's database.
  process.env.DATABASE_URL = db.url
  api = await import('../src/index.ts')
})

after(async () => {
  await api?.prisma.$disconnect()
  await db?.drop()
})

const FAST = { N: 1024, r: 8, p: 1 } // test-only cost; production uses DEFAULT_SCRYPT_PARAMS

test('password helpers: scrypt format, verification, rehash advice, no plaintext', async () => {
  const hash = await api.hashPassword('correct horse battery staple', FAST)
  assert.match(hash, /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/)
  assert.ok(!hash.includes('correct horse'))
  assert.equal(await api.verifyPassword('correct horse battery staple', hash), true)
  assert.equal(await api.verifyPassword('wrong', hash), false)
  assert.equal(await api.verifyPassword('x', 'not-a-hash'), false)
  assert.equal(api.needsRehash(hash), true)
  const full = await api.hashPassword('pw')
  assert.match(full, /^scrypt\$131072\$8\$1\$/)
  assert.equal(api.needsRehash(full), false)
  const { token, tokenHash } = api.createToken()
  assert.equal(api.hashToken(token), tokenHash)
  assert.match(tokenHash, /^[0-9a-f]{64}$/)
})

test('create a user; the same email in another case is refused', async () => {
  const { prisma } = api
  const user = await prisma.user.create({
    data: { email: api.normalizeEmail('  Manager@Watify.TEST '), name: 'Omar', role: 'MANAGER', passwordHash: await api.hashPassword('s3cret!', FAST) },
  })
  assert.equal(user.email, 'manager@watify.test')
  assert.equal(user.role, 'MANAGER')
  assert.equal(await api.verifyPassword('s3cret!', user.passwordHash), true)
  await assert.rejects(
    prisma.user.create({ data: { email: 'Manager@watify.test', name: 'Dup', passwordHash: user.passwordHash } }),
    /users_email_normalized_check/,
  )
  await assert.rejects(prisma.user.create({ data: { email: 'manager@watify.test', name: 'Dup', passwordHash: user.passwordHash } }), (err: { code?: string }) => err.code === 'P2002')
})

test('import -> groups -> campaign -> fan-out -> delivery webhooks -> performance -> history', async () => {
  const { prisma } = api
  const owner = await prisma.user.findUniqueOrThrow({ where: { email: 'manager@watify.test' } })

  // Bulk import with tags (opted-in rows, a pending one, duplicates merged).
  const rows = Array.from({ length: 30 }, (_, i) => ({
    phone: `+9715012${String(i).padStart(5, '0')}`,
    name: `Sub ${i}`,
    tags: i % 3 === 0 ? ['vip', 'dubai'] : i % 3 === 1 ? ['dubai'] : ['tech'],
    optedIn: i !== 29,
  }))
  const first = await api.importSubscribers(prisma, [...rows, { phone: rows[0]!.phone, tags: ['early-adopter'] }], { chunkSize: 7 })
  assert.deepEqual(first, { inserted: 30, updated: 0 })
  const again = await api.importSubscribers(prisma, rows.slice(0, 5))
  assert.deepEqual(again, { inserted: 0, updated: 5 })
  const s0 = await prisma.subscriber.findUniqueOrThrow({ where: { phone: rows[0]!.phone } })
  assert.deepEqual(s0.tags, ['dubai', 'early-adopter', 'vip'])
  assert.equal(s0.optStatus, 'OPTED_IN')
  assert.equal(s0.optInMethod, 'IMPORT')

  // Bad rows: nothing is written, the error names the rows and the fix.
  const before = await prisma.subscriber.count()
  await assert.rejects(api.importSubscribers(prisma, [{ phone: '+971500000001' }, { phone: '0501234567' }]), {
    name: 'ImportValidationError',
    message: '1 invalid row(s), nothing was imported: row 2: `0501234567` is not E.164 (+ then 8-15 digits, e.g. +14155550123). Fix or remove these rows and import again.',
  })
  assert.equal(await prisma.subscriber.count(), before)

  // One subscriber opts out; a re-import does not opt them back in.
  const out = await prisma.subscriber.update({
    where: { phone: rows[3]!.phone },
    data: { optStatus: 'OPTED_OUT', optedOutAt: new Date(), optOutMethod: 'WHATSAPP_KEYWORD', optOutReason: 'STOP' },
  })
  await api.importSubscribers(prisma, [rows[3]!])
  assert.equal((await prisma.subscriber.findUniqueOrThrow({ where: { id: out.id } })).optStatus, 'OPTED_OUT')

  // Groups: member_count follows the membership table.
  const group = await prisma.whatsappGroup.create({ data: { whatsappGroupId: '120363025246125486@g.us', name: 'Tech fans' } })
  const tech = await prisma.subscriber.findMany({ where: { tags: { has: 'tech' } }, orderBy: { id: 'asc' } })
  await prisma.groupMember.createMany({ data: tech.map((s) => ({ groupId: group.id, subscriberId: s.id })) })
  assert.equal((await prisma.whatsappGroup.findUniqueOrThrow({ where: { id: group.id } })).memberCount, tech.length)
  await prisma.groupMember.delete({ where: { groupId_subscriberId: { groupId: group.id, subscriberId: tech[0]!.id } } })
  assert.equal((await prisma.whatsappGroup.findUniqueOrThrow({ where: { id: group.id } })).memberCount, tech.length - 1)

  // Audience for a tag expression (opted-in only).
  assert.equal(await api.audienceSize(prisma, ['vip']), 9) // 10 vip, one (rows[3]) opted out
  assert.equal(await api.audienceSize(prisma, ['vip', 'tech'], 'ANY'), 9 + 9) // tech: 10, minus row 29 (pending)
  assert.equal(await api.audienceSize(prisma, ['vip', 'dubai'], 'ALL'), 9)

  // A campaign targeting the vip tag and the group; fan-out creates one message per recipient.
  const campaign = await prisma.campaign.create({
    data: { ownerId: owner.id, name: 'Eid offers', body: 'Eid Mubarak!', targetTags: ['vip'], targetGroups: { create: [{ groupId: group.id }] } },
  })
  const created = await api.fanOutCampaign(prisma, campaign.id)
  assert.equal(created, 9 + (tech.length - 1 - 1)) // vip opted-in + group members except the pending row 29
  assert.equal(await api.fanOutCampaign(prisma, campaign.id), 0, 'fan-out is idempotent')
  assert.equal(await prisma.message.count({ where: { campaignId: campaign.id, subscriberId: out.id } }), 0, 'no message to the opted-out subscriber')

  // Sender and delivery webhooks, by WhatsApp message id.
  const messages = await prisma.message.findMany({ where: { campaignId: campaign.id }, orderBy: { id: 'asc' } })
  const t = new Date('2030-01-01T10:00:00Z')
  for (const m of messages) assert.equal(await api.markMessageSent(prisma, m.id, `wamid.test.${m.id}`, t), true)
  const wamid = (i: number) => `wamid.test.${messages[i]!.id}`
  assert.equal(await api.applyDeliveryStatus(prisma, wamid(0), { status: 'DELIVERED', at: t }), true)
  assert.equal(await api.applyDeliveryStatus(prisma, wamid(0), { status: 'READ', at: t }), true)
  assert.equal(await api.applyDeliveryStatus(prisma, wamid(0), { status: 'DELIVERED', at: t }), false, 'a late delivered does not undo read')
  assert.equal(await api.applyDeliveryStatus(prisma, wamid(1), { status: 'DELIVERED', at: t }), true)
  assert.equal(await api.applyDeliveryStatus(prisma, wamid(2), { status: 'FAILED', at: t, errorCode: '131026', errorReason: 'Undeliverable' }), true)
  assert.equal(await api.applyDeliveryStatus(prisma, 'wamid.unknown', { status: 'READ', at: t }), false)
  const m0 = await prisma.message.findUniqueOrThrow({ where: { whatsappMessageId: wamid(0) } })
  assert.equal(m0.status, 'READ')
  assert.equal(m0.readAt?.toISOString(), t.toISOString())

  // Performance, from the counters, equal to the aggregates.
  const perf = await api.campaignPerformance(prisma, campaign.id)
  assert.deepEqual(
    { total: perf.totalRecipients, sent: perf.sent, delivered: perf.delivered, read: perf.read, failed: perf.failed, queued: perf.queued, status: perf.status },
    { total: created, sent: created - 1, delivered: 2, read: 1, failed: 1, queued: 0, status: 'RUNNING' },
  )
  const [agg] = await query<{ sent: string; failed: string }>(
    db.url,
    `SELECT count(*) FILTER (WHERE status IN ('sent','delivered','read')) AS sent, count(*) FILTER (WHERE status = 'failed') AS failed FROM messages WHERE campaign_id = $1`,
    [campaign.id],
  )
  assert.deepEqual(agg, { sent: String(created - 1), failed: '1' })

  // Deleting the campaign is refused: it has history.
  await assert.rejects(prisma.campaign.delete({ where: { id: campaign.id } }))

  // One subscriber's history, newest first, keyset-paginated.
  const sub = messages[0]!.subscriberId!
  for (let i = 0; i < 5; i++) {
    await prisma.message.create({ data: { subscriberId: sub, direction: 'INBOUND', status: 'RECEIVED', body: `reply ${i}`, whatsappMessageId: `wamid.in.${i}`, createdAt: new Date(Date.UTC(2030, 0, 2, 0, 0, i)) } })
  }
  const all = await api.subscriberHistory(prisma, sub, { limit: 100 })
  assert.equal(all.length, 6)
  const pages: string[][] = []
  let cursor: { createdAt: Date; id: bigint } | undefined
  for (;;) {
    const page = await api.subscriberHistory(prisma, sub, { limit: 4, ...(cursor ? { before: cursor } : {}) })
    if (page.length === 0) break
    pages.push(page.map((m) => String(m.id)))
    cursor = { createdAt: page.at(-1)!.createdAt, id: page.at(-1)!.id }
  }
  assert.deepEqual(pages.flat(), all.map((m) => String(m.id)))
  assert.deepEqual(pages.map((p) => p.length), [4, 2])
  assert.equal(all[0]!.body, 'reply 4')
})
