// The core backend flows through the default client (src/index.ts: prisma, its pool, and
// the src/api hot paths bound to both) against a fresh database.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import pg from 'pg'

import { createTestDatabase, query, type TestDatabase } from './helpers/db.ts'
import { applyAllMigrations } from './helpers/migrations.ts'

let db: TestDatabase
let lib: typeof import('../src/index.ts')

before(async () => {
  db = await createTestDatabase('client_flows')
  await applyAllMigrations(db.url)
  // src/client.ts resolves its URL when first imported: point it at this test's database.
  process.env.DATABASE_URL = db.url
  lib = await import('../src/index.ts')
})

after(async () => {
  // Prisma does not end a pool it was given: disconnect() closes both, the pool last.
  if (lib) {
    await lib.disconnect()
    assert.equal(lib.pool.ended, true, 'disconnect() ended the pool')
    await lib.disconnect() // a second call is harmless
  }
  await db?.drop()
})

test('one pool: Prisma runs on the exported pg.Pool, the api is bound to both', async () => {
  const { prisma, pool } = lib
  assert.ok(pool instanceof pg.Pool)
  assert.equal(pool.totalCount, 0, 'nothing has connected yet')
  const [row] = await prisma.$queryRaw<Array<{ db: string }>>`SELECT current_database() AS db`
  assert.equal(row!.db, db.name)
  assert.equal(pool.totalCount, 1, "Prisma's query opened a connection of the exported pool")
  const [{ n }] = (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM subscribers')).rows as [{ n: number }]
  assert.equal(n, 0)
  // The api's hot paths run on that same pool: each call checks a client out of it.
  let acquired = 0
  const onAcquire = () => acquired++
  pool.on('acquire', onAcquire)
  try {
    assert.equal(await lib.api.audienceSize({ any: ['vip'] }), 0)
    assert.ok(acquired >= 1, 'api.audienceSize ran on the exported pool')
  } finally {
    pool.off('acquire', onAcquire)
  }
  assert.equal(pool.totalCount, 1, 'and shared the connection Prisma opened')
})

const FAST = { N: 1024, r: 8, p: 1 } // test-only cost; production uses DEFAULT_SCRYPT_PARAMS

test('password helpers: scrypt format, verification, rehash advice, no plaintext', async () => {
  const hash = await lib.hashPassword('correct horse battery staple', FAST)
  assert.match(hash, /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/)
  assert.ok(!hash.includes('correct horse'))
  assert.equal(await lib.verifyPassword('correct horse battery staple', hash), true)
  assert.equal(await lib.verifyPassword('wrong', hash), false)
  assert.equal(await lib.verifyPassword('x', 'not-a-hash'), false)
  assert.equal(lib.needsRehash(hash), true)
  const full = await lib.hashPassword('pw')
  assert.match(full, /^scrypt\$131072\$8\$1\$/)
  assert.equal(lib.needsRehash(full), false)
  const { token, tokenHash } = lib.createToken()
  assert.equal(lib.hashToken(token), tokenHash)
  assert.match(tokenHash, /^[0-9a-f]{64}$/)
})

test('create a user; the same email in another case is refused', async () => {
  const { prisma } = lib
  const user = await prisma.user.create({
    data: { email: lib.normalizeEmail('  Manager@Watify.TEST '), name: 'Omar', role: 'MANAGER', passwordHash: await lib.hashPassword('s3cret!', FAST) },
  })
  assert.equal(user.email, 'manager@watify.test')
  assert.equal(user.role, 'MANAGER')
  assert.equal(await lib.verifyPassword('s3cret!', user.passwordHash), true)
  // The client normalises the email (docs/client.md): another case is the same address, a duplicate.
  for (const email of ['Manager@watify.test', 'manager@watify.test']) {
    await assert.rejects(
      prisma.user.create({ data: { email, name: 'Dup', passwordHash: user.passwordHash } }),
      (err: unknown) => err instanceof lib.UniquenessError && err.rule === 'users_email_key' && err.fields.includes('email'),
    )
  }
})

test('import -> groups -> campaign -> fan-out -> send -> delivery webhooks -> performance -> history', async () => {
  const { prisma, api } = lib
  const owner = await prisma.user.findUniqueOrThrow({ where: { email: 'manager@watify.test' } })

  // Bulk import with tags (opted-in rows, a pending one, duplicates merged).
  const consent = new Date('2025-12-01T09:00:00Z')
  const rows = Array.from({ length: 30 }, (_, i) => ({
    phone: `+9715012${String(i).padStart(5, '0')}`,
    name: `Sub ${i}`,
    tags: i % 3 === 0 ? ['vip', 'dubai'] : i % 3 === 1 ? ['dubai'] : ['tech'],
    ...(i !== 29 ? { optIn: { at: consent } } : {}),
  }))
  const first = await api.importSubscribers([...rows, { phone: rows[0]!.phone, tags: ['early-adopter'] }], { chunkRows: 7 })
  assert.deepEqual(first, { inserted: 30, updated: 0, unchanged: 1 }, 'the duplicate phone is merged into its first row')
  // Known phones are never inserted again; rows that change nothing are not rewritten.
  assert.deepEqual(await api.importSubscribers(rows.slice(0, 5)), { inserted: 0, updated: 0, unchanged: 5 })
  assert.deepEqual(await api.importSubscribers(rows.slice(0, 5).map((r, i) => (i < 2 ? { ...r, tags: ['returning'] } : r))), { inserted: 0, updated: 2, unchanged: 3 })
  const s0 = await prisma.subscriber.findUniqueOrThrow({ where: { phone: rows[0]!.phone } })
  assert.deepEqual(s0.tags, ['vip', 'dubai', 'early-adopter', 'returning'])
  assert.equal(s0.name, 'Sub 0')
  assert.equal(s0.optStatus, 'OPTED_IN')
  assert.equal(s0.optInMethod, 'IMPORT')
  assert.equal(s0.optedInAt?.toISOString(), consent.toISOString())
  assert.equal((await prisma.subscriber.findUniqueOrThrow({ where: { phone: rows[29]!.phone } })).optStatus, 'PENDING')

  // Bad rows: nothing is written, the error names the row and the fix.
  const before = await prisma.subscriber.count()
  await assert.rejects(api.importSubscribers([{ phone: '+971500000001' }, { phone: '0501234567' }]), {
    name: 'ApiInputError',
    message: 'importSubscribers: row 1: phone `0501234567` is not a phone number that can be written in E.164. Use `+` followed by the country code and number, e.g. `+201001234567` (or set a default phone region for national numbers)',
  })
  assert.equal(await prisma.subscriber.count(), before)

  // One subscriber opts out; a re-import does not opt them back in.
  const out = await prisma.subscriber.update({
    where: { phone: rows[3]!.phone },
    data: { optStatus: 'OPTED_OUT', optedOutAt: new Date(), optOutMethod: 'WHATSAPP_KEYWORD', optOutReason: 'STOP' },
  })
  await api.importSubscribers([rows[3]!])
  assert.equal((await prisma.subscriber.findUniqueOrThrow({ where: { id: out.id } })).optStatus, 'OPTED_OUT')

  // Groups: member_count follows the membership table.
  const group = await prisma.whatsappGroup.create({ data: { whatsappGroupId: '120363025246125486@g.us', name: 'Tech fans' } })
  const tech = await prisma.subscriber.findMany({ where: { tags: { has: 'tech' } }, orderBy: { id: 'asc' } })
  await prisma.groupMember.createMany({ data: tech.map((s) => ({ groupId: group.id, subscriberId: s.id })) })
  assert.equal((await prisma.whatsappGroup.findUniqueOrThrow({ where: { id: group.id } })).memberCount, tech.length)
  await prisma.groupMember.delete({ where: { groupId_subscriberId: { groupId: group.id, subscriberId: tech[0]!.id } } })
  assert.equal((await prisma.whatsappGroup.findUniqueOrThrow({ where: { id: group.id } })).memberCount, tech.length - 1)

  // Audience for a tag expression (opted-in only); the standalone functions give the same, on either path.
  assert.equal(await api.audienceSize({ any: ['vip'] }), 9) // 10 vip, one (rows[3]) opted out
  assert.equal(await api.audienceSize({ any: ['vip', 'tech'] }), 9 + 9) // tech: 10, minus row 29 (pending)
  assert.equal(await api.audienceSize({ all: ['vip', 'dubai'] }), 9)
  assert.equal(await api.audienceSize({ any: ['dubai'], none: ['vip'] }), 10)
  assert.equal(await lib.audienceSize(prisma, { any: ['vip'] }), 9)
  assert.equal(await lib.audienceSize({ prisma, pool: lib.pool }, { all: ['vip', 'dubai'] }), 9)

  // A campaign targeting the vip tag and the group; fan-out creates one message per recipient.
  const campaign = await prisma.campaign.create({
    data: { ownerId: owner.id, name: 'Eid offers', body: 'Eid Mubarak!', targetTags: ['vip'], targetGroups: { create: [{ groupId: group.id }] } },
  })
  const expected = 9 + (tech.length - 1 - 1) // vip opted-in + group members except the pending row 29
  const fanned = await api.fanOutCampaign(campaign.id)
  assert.deepEqual(fanned, { campaignId: campaign.id, inserted: expected, totalRecipients: expected, status: 'RUNNING' })
  assert.deepEqual(await api.fanOutCampaign(campaign.id), { campaignId: campaign.id, inserted: 0, totalRecipients: expected, status: 'RUNNING' }, 'fan-out is idempotent')
  assert.equal(await prisma.message.count({ where: { campaignId: campaign.id, subscriberId: out.id } }), 0, 'no message to the opted-out subscriber')
  const created = fanned.inserted

  // The sender records WhatsApp's ids; delivery webhooks then find the messages by them.
  const messages = await prisma.message.findMany({ where: { campaignId: campaign.id }, orderBy: { id: 'asc' } })
  assert.ok(messages.every((m) => m.status === 'QUEUED' && m.whatsappMessageId === null))
  const t = new Date('2030-01-01T10:00:00Z')
  for (const m of messages) assert.deepEqual(await api.markMessageSent(m.id, `wamid.test.${m.id}`, t), { outcome: 'updated', status: 'SENT' })
  assert.deepEqual(await api.markMessageSent(messages[0]!.id, 'wamid.again', t), { outcome: 'ignored', status: 'SENT' }, 'a message is sent once')
  const wamid = (i: number) => `wamid.test.${messages[i]!.id}`
  assert.deepEqual(await api.recordDeliveryStatus(wamid(0), 'DELIVERED', t), { outcome: 'updated', status: 'DELIVERED' })
  assert.deepEqual(await api.recordDeliveryStatus(wamid(0), 'READ', t), { outcome: 'updated', status: 'READ' })
  assert.deepEqual(await api.recordDeliveryStatus(wamid(0), 'DELIVERED', t), { outcome: 'ignored', status: 'READ' }, 'a late delivered does not undo read')
  assert.deepEqual(await api.recordDeliveryStatus(wamid(1), 'DELIVERED', t), { outcome: 'updated', status: 'DELIVERED' })
  assert.deepEqual(await api.recordDeliveryStatus(wamid(2), 'FAILED', t, { code: '131026', reason: 'Undeliverable' }), { outcome: 'updated', status: 'FAILED' })
  assert.deepEqual(await api.recordDeliveryStatus('wamid.unknown', 'READ', t), { outcome: 'not_found', status: null })
  const m0 = await prisma.message.findUniqueOrThrow({ where: { whatsappMessageId: wamid(0) } })
  assert.equal(m0.status, 'READ')
  assert.equal(m0.sentAt?.toISOString(), t.toISOString())
  assert.equal(m0.readAt?.toISOString(), t.toISOString())
  const m2 = await prisma.message.findUniqueOrThrow({ where: { whatsappMessageId: wamid(2) } })
  assert.deepEqual([m2.status, m2.errorCode, m2.errorReason], ['FAILED', '131026', 'Undeliverable'])

  // Performance, from the counters, equal to the aggregates.
  const perf = await api.campaignPerformance(campaign.id)
  assert.ok(perf)
  assert.deepEqual(
    { total: perf.total, sent: perf.sent, delivered: perf.delivered, read: perf.read, failed: perf.failed, queued: perf.queued, status: perf.status },
    { total: created, sent: created - 1, delivered: 2, read: 1, failed: 1, queued: 0, status: 'RUNNING' },
  )
  assert.equal(perf.deliveryRate, 2 / (created - 1))
  assert.equal(perf.readRate, 1 / 2)
  const [agg] = await query<{ sent: string; failed: string }>(
    db.url,
    `SELECT count(*) FILTER (WHERE status IN ('sent','delivered','read')) AS sent, count(*) FILTER (WHERE status = 'failed') AS failed FROM messages WHERE campaign_id = $1`,
    [campaign.id],
  )
  assert.deepEqual(agg, { sent: String(created - 1), failed: '1' })

  // Deleting the campaign is refused: it has history.
  await assert.rejects(prisma.campaign.delete({ where: { id: campaign.id } }), (err: unknown) => err instanceof lib.ReferenceViolationError && err.rule === 'messages_campaign_id_fkey')

  // One subscriber's history, newest first, keyset-paginated.
  const sub = messages[0]!.subscriberId!
  for (let i = 0; i < 5; i++) {
    await prisma.message.create({ data: { subscriberId: sub, direction: 'INBOUND', status: 'RECEIVED', body: `reply ${i}`, whatsappMessageId: `wamid.in.${i}`, createdAt: new Date(Date.UTC(2030, 0, 2, 0, 0, i)) } })
  }
  const all = await api.subscriberHistory(sub, { limit: 100 })
  assert.equal(all.items.length, 6)
  assert.equal(all.nextCursor, null)
  const pages: string[][] = []
  let cursor: string | null = null
  do {
    const page = await api.subscriberHistory(sub, { limit: 4, cursor })
    pages.push(page.items.map((m) => String(m.id)))
    cursor = page.nextCursor
  } while (cursor)
  assert.deepEqual(pages.flat(), all.items.map((m) => String(m.id)))
  assert.deepEqual(pages.map((p) => p.length), [4, 2])
  assert.equal(all.items[0]!.body, 'reply 4')
  assert.equal(all.items[5]!.whatsappMessageId, wamid(0))
})
