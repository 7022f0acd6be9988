// Input normalised at the boundary, on a real PostgreSQL: emails trimmed and lower-cased,
// phones in E.164, on create, update, upsert, createMany and in `where` of the typed
// client, nested writes and filters included, and in api.importSubscribers; a lookup by
// any accepted form finds the row; what cannot be normalised is a ValidationError naming
// the field, and nothing is written.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, test } from 'node:test'

import { createApi } from '../src/api/index.ts'
import { ValidationError } from '../src/domain/errors.ts'
import { withDomainRules } from '../src/domain/extension.ts'
import { normalizePhone, RELATIONS } from '../src/domain/normalize.ts'
import type { PrismaClient } from '../src/generated/prisma/client.ts'
import { openApiDatabase } from './helpers/api.ts'
import { query } from './helpers/db.ts'
import { ROOT, run } from './helpers/prisma.ts'

const t = await openApiDatabase('domain_normalize')
const prisma: PrismaClient = withDomainRules(t.prisma, { defaultPhoneRegion: 'PK' })
after(() => t.close())

const PW = 'scrypt$16384$8$1$c2FsdA==$aGFzaA=='
const rows = (sql: string, params: unknown[] = []) => query<Record<string, unknown>>(t.db.url, sql, params)

test('the relation map the walker follows is every relation field of prisma/schema.prisma', () => {
  const schema = readFileSync(join(ROOT, 'prisma/schema.prisma'), 'utf8')
  const models = [...schema.matchAll(/^model (\w+) \{([\s\S]*?)^\}/gm)]
  const names = new Set(models.map((m) => m[1]!))
  const found: Record<string, Record<string, string>> = {}
  for (const [, model, body] of models) {
    found[model!] = {}
    for (const line of body!.split('\n')) {
      const m = /^\s+(\w+)\s+(\w+)(\[\]|\?)?\s/.exec(line + ' ')
      if (m && names.has(m[2]!)) found[model!]![m[1]!] = m[2]!
    }
  }
  assert.deepEqual(found, RELATIONS)
})

test('normalizePhone: E.164 from the usual written forms; the default region for national numbers', () => {
  for (const form of ['+923001234567', '+92 300 1234567', '+92-300-123-4567', '0092 300 1234567', '(0300) 123-4567', '03001234567']) {
    assert.equal(normalizePhone(form, 'PK'), '+923001234567', form)
  }
  assert.equal(normalizePhone('+1 (415) 555-0100'), '+14155550100')
  for (const bad of ['', 'call me', '12', '0300 1234567']) {
    assert.throws(() => normalizePhone(bad), (e: unknown) => e instanceof ValidationError && e.rule === 'subscribers_phone_e164_check' && e.fields.includes('phone'), bad)
  }
})

test('emails: stored trimmed and lower-cased by create, update, upsert and createMany; found by any case and spacing', async () => {
  const input = { email: '  Ayesha.Khan@Example.COM ', name: 'Ayesha', passwordHash: PW }
  const u = await prisma.user.create({ data: input })
  assert.equal(u.email, 'ayesha.khan@example.com')
  assert.equal(input.email, '  Ayesha.Khan@Example.COM ', 'the caller\'s object is not modified')
  assert.deepEqual(await rows('SELECT email FROM users WHERE id = $1', [u.id]), [{ email: 'ayesha.khan@example.com' }])
  for (const where of [{ email: 'AYESHA.KHAN@example.com' }, { email: ' ayesha.khan@EXAMPLE.com' }]) {
    assert.equal((await prisma.user.findUnique({ where }))?.id, u.id, JSON.stringify(where))
  }
  assert.equal((await prisma.user.findFirst({ where: { email: { equals: 'Ayesha.Khan@Example.com' } } }))?.id, u.id)
  assert.equal((await prisma.user.findFirst({ where: { email: { in: ['X@y.co', 'AYESHA.khan@example.com'] } } }))?.id, u.id)
  assert.equal((await prisma.user.findFirst({ where: { OR: [{ email: { contains: 'KHAN@' } }] } }))?.id, u.id)
  assert.equal(await prisma.user.count({ where: { NOT: { email: { not: 'Ayesha.Khan@example.com' } } } }), 1)

  await prisma.user.update({ where: { email: 'AYESHA.KHAN@EXAMPLE.COM' }, data: { email: { set: ' A.Khan@Example.com ' } } })
  assert.deepEqual(await rows('SELECT email FROM users WHERE id = $1', [u.id]), [{ email: 'a.khan@example.com' }])
  const up = await prisma.user.upsert({ where: { email: 'A.KHAN@example.com' }, create: { email: 'A.KHAN@example.com', name: 'no', passwordHash: PW }, update: { email: 'Ayesha@Example.com' } })
  assert.equal(up.id, u.id, 'upsert found the row by another form')
  assert.equal(up.email, 'ayesha@example.com')
  const created = await prisma.user.upsert({ where: { email: ' New.User@Example.com' }, create: { email: ' New.User@Example.com', name: 'N', passwordHash: PW }, update: {} })
  assert.equal(created.email, 'new.user@example.com')
  await prisma.user.createMany({ data: [{ email: 'Bulk.One@Example.com', name: 'B1', passwordHash: PW }, { email: ' BULK.TWO@example.com ', name: 'B2', passwordHash: PW }] })
  assert.deepEqual(await rows(`SELECT email FROM users WHERE name LIKE 'B_' ORDER BY name`), [{ email: 'bulk.one@example.com' }, { email: 'bulk.two@example.com' }])
  assert.equal((await prisma.user.updateMany({ where: { email: { in: ['BULK.ONE@EXAMPLE.COM'] } }, data: { email: 'Bulk.1@Example.com' } })).count, 1)
  assert.equal((await prisma.user.findUnique({ where: { email: 'bulk.1@example.com' } }))?.name, 'B1')
})

test('phones: stored in E.164 by create, update, upsert and createMany (default region PK); found by any written form', async () => {
  const s = await prisma.subscriber.create({ data: { phone: '0300 765 4321', name: 'Bilal' } })
  assert.equal(s.phone, '+923007654321')
  for (const form of ['+92 300 7654321', '0092-300-765-4321', '(0300) 7654321', '+923007654321']) {
    assert.equal((await prisma.subscriber.findUnique({ where: { phone: form } }))?.id, s.id, form)
  }
  assert.equal(await prisma.subscriber.count({ where: { phone: { in: ['+92 300 7654321', '+1 415 555 0100'] } } }), 1)
  await prisma.subscriber.update({ where: { phone: '+92 300 7654321' }, data: { phone: { set: '+92 300 7654322' } } })
  assert.deepEqual(await rows('SELECT phone FROM subscribers WHERE id = $1', [s.id]), [{ phone: '+923007654322' }])
  const up = await prisma.subscriber.upsert({ where: { phone: '0300-7654322' }, create: { phone: '0300-7654322' }, update: { name: 'Bilal K' } })
  assert.equal(up.id, s.id)
  await prisma.subscriber.createMany({ data: [{ phone: '0301 1111111' }, { phone: '+92 301 2222222' }] })
  assert.deepEqual(await rows(`SELECT phone FROM subscribers WHERE phone LIKE '+92301%' ORDER BY phone`), [{ phone: '+923011111111' }, { phone: '+923012222222' }])
})

test('nested writes and relation filters are normalised too (the walker follows every relation)', async () => {
  await prisma.user.create({ data: { email: 'owner@example.com', name: 'Owner', passwordHash: PW } })
  // Campaign -> owner (connect by email), -> messages -> subscriber (connectOrCreate by phone).
  const c = await prisma.campaign.create({
    data: {
      name: 'Nested',
      body: 'Hi',
      owner: { connect: { email: ' OWNER@Example.com' } },
      messages: { create: [{ direction: 'OUTBOUND', body: 'x', subscriber: { connectOrCreate: { where: { phone: '0302 3333333' }, create: { phone: '0302 3333333', name: 'Nested' } } } }] },
    },
    include: { owner: true, messages: { include: { subscriber: true } } },
  })
  assert.equal(c.owner?.email, 'owner@example.com')
  assert.equal(c.messages[0]?.subscriber?.phone, '+923023333333')
  // User -> sentMessages -> subscriber (create), through update; WhatsappGroup -> members (upsert of a subscriber link).
  await prisma.user.update({
    where: { email: 'OWNER@EXAMPLE.COM' },
    data: { sentMessages: { create: { direction: 'OUTBOUND', body: 'direct', subscriber: { create: { phone: '+92 (303) 444-4444' } } } } },
  })
  const g = await prisma.whatsappGroup.create({ data: { whatsappGroupId: '120363000000000777@g.us', name: 'G', members: { create: { subscriber: { connect: { phone: '+92 303 4444444' } } } } } })
  // Relation filters: is / some / a to-one WhereInput; the where of included relations.
  assert.equal(await prisma.message.count({ where: { subscriber: { phone: '0303-4444444' }, senderUser: { is: { email: 'Owner@Example.com' } } } }), 1)
  assert.equal(await prisma.user.count({ where: { campaigns: { some: { messages: { some: { subscriber: { phone: '+92 302 3333333' } } } } } } }), 1)
  assert.equal(await prisma.whatsappGroup.count({ where: { id: g.id, members: { some: { subscriber: { is: { phone: '03034444444' } } } } } }), 1)
  const sub = await prisma.subscriber.findUnique({ where: { phone: '0303 4444444' }, include: { messages: { where: { senderUser: { email: 'OWNER@example.com' } } }, _count: { select: { messages: { where: { senderUser: { email: ' owner@example.COM' } } } } } } })
  assert.equal(sub?.messages.length, 1)
  assert.equal(sub?._count.messages, 1)
  // Inside an interactive transaction (the transaction client carries the extension).
  await prisma.$transaction(async (tx) => {
    await tx.groupMember.create({ data: { group: { connect: { id: g.id } }, subscriber: { create: { phone: '0304 5555555' } } } })
  })
  assert.deepEqual(await rows(`SELECT phone FROM subscribers WHERE phone LIKE '+92304%'`), [{ phone: '+923045555555' }])
})

test('what cannot be normalised is a ValidationError naming the field, thrown before any query; nothing written', async () => {
  const before = await rows('SELECT (SELECT count(*) FROM subscribers)::int AS s, (SELECT count(*) FROM users)::int AS u')
  const cases: Array<[string, () => Promise<unknown>, string, string]> = [
    ['create, phone', () => prisma.subscriber.create({ data: { phone: 'not a number' } }), 'phone', 'subscribers_phone_e164_check'],
    ['createMany, one bad phone', () => prisma.subscriber.createMany({ data: [{ phone: '+92 300 9999999' }, { phone: '12' }] }), 'phone', 'subscribers_phone_e164_check'],
    ['nested create, phone', () => prisma.message.create({ data: { direction: 'OUTBOUND', body: 'x', subscriber: { create: { phone: 'abc' } } } }), 'phone', 'subscribers_phone_e164_check'],
    ['where, phone', () => prisma.subscriber.findFirst({ where: { phone: 'call me' } }), 'phone', 'subscribers_phone_e164_check'],
    ['create, email', () => prisma.user.create({ data: { email: 'not-an-email', name: 'x', passwordHash: PW } }), 'email', 'users_email_format_check'],
  ]
  for (const [label, call, field, rule] of cases) {
    const err = await call().catch((e: unknown) => e)
    assert.ok(err instanceof ValidationError, `${label}: ${String(err)}`)
    assert.deepEqual(err.fields, [field], label)
    assert.equal(err.rule, rule, label)
    assert.equal(err.code, null, `${label}: raised before any query (no SQLSTATE)`)
  }
  assert.deepEqual(await rows('SELECT (SELECT count(*) FROM subscribers)::int AS s, (SELECT count(*) FROM users)::int AS u'), before)
  // Without a default region, a national number cannot be placed.
  const noRegion = withDomainRules(t.prisma)
  const err = await noRegion.subscriber.create({ data: { phone: '0300 1234567' } }).catch((e: unknown) => e)
  assert.ok(err instanceof ValidationError && err.fields.includes('phone'))
  assert.match(err.hint ?? '', /WATIFY_DEFAULT_PHONE_REGION/)
  assert.throws(() => withDomainRules(t.prisma, { defaultPhoneRegion: 'XX' }), (e: unknown) => e instanceof ValidationError && e.fields.includes('defaultPhoneRegion'))
})

for (const [label, getDb] of t.paths) {
  test(`api (${label}): importSubscribers stores E.164 and merges every written form of one number, also with existing rows`, async () => {
    const api = createApi(getDb(), { defaultPhoneRegion: 'PK' })
    const prefix = label === 'pool' ? '0305' : '0306'
    const r1 = await api.importSubscribers([{ phone: `${prefix} 1000001`, tags: ['a'] }, { phone: `+92 ${prefix.slice(1)} 1000001`, tags: ['b'] }, { phone: `+92${prefix.slice(1)}1000002` }])
    assert.deepEqual(r1, { inserted: 2, updated: 0, unchanged: 1 })
    const r2 = await api.importSubscribers([{ phone: `(${prefix}) 100-0001`, tags: ['c'] }])
    assert.deepEqual(r2, { inserted: 0, updated: 1, unchanged: 0 }, 'the re-import in another form found the row')
    assert.deepEqual(await rows(`SELECT phone, tags FROM subscribers WHERE phone LIKE $1 ORDER BY phone`, [`+92${prefix.slice(1)}%`]), [
      { phone: `+92${prefix.slice(1)}1000001`, tags: ['a', 'b', 'c'] },
      { phone: `+92${prefix.slice(1)}1000002`, tags: [] },
    ])
  })
}

test('src/client.ts: WATIFY_DEFAULT_PHONE_REGION sets the region of the exported prisma and api', async () => {
  const script = `
    import { api, pool, prisma } from './src/index.ts'
    const s = await prisma.subscriber.create({ data: { phone: '0300 2468024' } })
    const r = await api.importSubscribers([{ phone: '0300-2468024', tags: ['x'] }])
    console.log(JSON.stringify({ phone: s.phone, r }))
    await prisma.$disconnect(); await pool.end()`
  const out = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, env: { DATABASE_URL: t.db.url, WATIFY_DEFAULT_PHONE_REGION: 'PK' } })
  assert.equal(out.code, 0, out.stderr)
  assert.deepEqual(JSON.parse(out.stdout.trim().split('\n').at(-1)!), { phone: '+923002468024', r: { inserted: 0, updated: 1, unchanged: 0 } })
})
