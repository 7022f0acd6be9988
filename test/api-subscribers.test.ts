// src/api subscriber paths (importSubscribers, audienceSize) on a fresh database
// with the project's migrations applied; results checked with SQL. Each case runs
// through both executors: the pg pool (fast path) and Prisma ($queryRaw).
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { ApiInputError, audienceSize, importSubscribers } from '../src/api/index.ts'
import { openApiDatabase } from './helpers/api.ts'
import { query } from './helpers/db.ts'

// Set up before the tests are declared: they are declared once per executor path.
const { db, prisma, paths, close } = await openApiDatabase('api_subscribers')
after(close)

interface SubRow {
  phone: string
  name: string | null
  tags: string[]
  attributes: Record<string, unknown>
  opt_status: string
  opted_in_at: Date | null
  opt_in_method: string | null
}

const sub = async (phone: string) =>
  (await query<SubRow>(db.url, 'SELECT phone, name, tags, attributes, opt_status::text, opted_in_at, opt_in_method::text FROM subscribers WHERE phone = $1', [phone]))[0]

describe('importSubscribers', { concurrency: false }, () => {
  for (const [label, getDb] of paths) {
    const p = label === 'pool' ? '+2011' : '+2012' // each path imports its own phones
    test(`${label}: inserts new subscribers with tags, attributes and consent`, async () => {
      const at = new Date('2026-03-01T10:00:00.123Z')
      const r = await importSubscribers(getDb(), [
        { phone: `${p}00000001`, name: 'Amira', tags: ['vip', 'news'], attributes: { city: 'Cairo' }, optIn: { at } },
        { phone: `${p}00000002`, tags: ['news'], optIn: { at, method: 'WEB_FORM' } },
        { phone: `${p}00000003` },
      ])
      assert.deepEqual(r, { inserted: 3, updated: 0, unchanged: 0 })
      assert.deepEqual(await sub(`${p}00000001`), {
        phone: `${p}00000001`, name: 'Amira', tags: ['vip', 'news'], attributes: { city: 'Cairo' }, opt_status: 'opted_in', opted_in_at: at, opt_in_method: 'import',
      })
      assert.equal((await sub(`${p}00000002`))!.opt_in_method, 'web_form')
      const third = await sub(`${p}00000003`)
      assert.deepEqual([third!.name, third!.tags, third!.attributes, third!.opt_status, third!.opted_in_at], [null, [], {}, 'pending', null])
    })

    test(`${label}: re-import merges tags and attributes, opts pending people in, never re-opts-in an opt-out`, async () => {
      const p = label === 'pool' ? '+2015' : '+2016' // its own phones, set up here: the test runs alone too
      const first = new Date('2026-03-01T10:00:00.123Z')
      await importSubscribers(getDb(), [
        { phone: `${p}00000001`, name: 'Amira', tags: ['vip', 'news'], attributes: { city: 'Cairo' }, optIn: { at: first } },
        { phone: `${p}00000002`, tags: ['news'], optIn: { at: first, method: 'WEB_FORM' } },
        { phone: `${p}00000003` },
      ])
      await query(db.url, `UPDATE subscribers SET opt_status = 'opted_out', opted_out_at = now(), opt_out_method = 'whatsapp_keyword' WHERE phone = $1`, [`${p}00000002`])
      const before = await query<{ phone: string; updated_at: Date }>(db.url, 'SELECT phone, updated_at FROM subscribers WHERE phone LIKE $1 ORDER BY phone', [`${p}%`])
      const at = new Date('2026-04-01T00:00:00.000Z')
      const r = await importSubscribers(getDb(), [
        { phone: `${p}00000001`, tags: ['promo', 'vip'], attributes: { plan: 'gold' } }, // merge, name kept
        { phone: `${p}00000002`, tags: ['news'], optIn: { at } }, // opted out: stays out, nothing else changes
        { phone: `${p}00000003`, name: 'Omar', optIn: { at } }, // pending -> opted in
      ])
      assert.deepEqual(r, { inserted: 0, updated: 2, unchanged: 1 })
      const one = await sub(`${p}00000001`)
      assert.deepEqual([one!.name, one!.tags, one!.attributes], ['Amira', ['vip', 'news', 'promo'], { city: 'Cairo', plan: 'gold' }])
      const two = await sub(`${p}00000002`)
      assert.deepEqual([two!.opt_status, two!.tags], ['opted_out', ['news']])
      const three = await sub(`${p}00000003`)
      assert.deepEqual([three!.name, three!.opt_status, three!.opted_in_at, three!.opt_in_method], ['Omar', 'opted_in', at, 'import'])
      const afterRows = await query<{ phone: string; updated_at: Date }>(db.url, 'SELECT phone, updated_at FROM subscribers WHERE phone LIKE $1 ORDER BY phone', [`${p}%`])
      // The unchanged row was not rewritten.
      assert.deepEqual(afterRows[1]!.updated_at, before[1]!.updated_at)
    })

    test(`${label}: duplicate phones in one input are merged, special characters round-trip`, async () => {
      const odd = ['a"b', 'back\\slash', 'comma,tag', '{brace}', 'NULL', 'عربي', ' spaced ']
      const r = await importSubscribers(getDb(), [
        { phone: `${p}00000010`, name: 'First', tags: odd.slice(0, 4) },
        { phone: `${p}00000010`, tags: odd.slice(3), attributes: { quote: '"\\\u001f' } },
      ])
      assert.deepEqual(r, { inserted: 1, updated: 0, unchanged: 1 })
      const row = await sub(`${p}00000010`)
      assert.deepEqual([row!.name, row!.tags, row!.attributes], ['First', odd, { quote: '"\\\u001f' }])
    })

    test(`${label}: a bad row rejects the whole input before anything is written`, async () => {
      const rows = [{ phone: `${p}00000020` }, { phone: `${p}00000021` }, { phone: '0100 123' }]
      await assert.rejects(importSubscribers(getDb(), rows), (err: unknown) => {
        assert.ok(err instanceof ApiInputError)
        assert.match(err.message, /^importSubscribers: row 2: phone `0100 123` is not a phone number that can be written in E\.164\. Use `\+` followed by the country code/)
        return true
      })
      await assert.rejects(importSubscribers(getDb(), [{ phone: `${p}00000022`, tags: [''] }]), /row 0: tag "" is empty/)
      await assert.rejects(importSubscribers(getDb(), [{ phone: `${p}00000022`, name: 'a\x1fb' }]), /row 0: name contains/)
      await assert.rejects(importSubscribers(getDb(), [{ phone: `${p}00000022` }], { chunkRows: 0 }), /chunkRows `0` is not a positive integer/)
      assert.equal((await query(db.url, 'SELECT 1 FROM subscribers WHERE phone IN ($1, $2, $3)', [`${p}00000020`, `${p}00000021`, `${p}00000022`])).length, 0)
    })

    test(`${label}: more than one chunk commits together or not at all`, async () => {
      const chunkRows = 1000
      const n = 3 * chunkRows + 5
      const rows = Array.from({ length: n }, (_, i) => ({ phone: `${p}5${String(i).padStart(7, '0')}`, tags: ['bulk'] }))
      // The last row breaks a database rule (name longer than varchar(255)) in the last chunk.
      const bad = [...rows.slice(0, -1), { phone: rows[n - 1]!.phone, name: 'x'.repeat(300) }]
      await assert.rejects(importSubscribers(getDb(), bad, { chunkRows }), /value too long/)
      assert.equal((await query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM subscribers WHERE phone LIKE $1`, [`${p}5%`]))[0]!.n, 0)
      assert.deepEqual(await importSubscribers(getDb(), rows, { chunkRows }), { inserted: n, updated: 0, unchanged: 0 })
      assert.equal((await query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM subscribers WHERE phone LIKE $1 AND tags = '{bulk}'`, [`${p}5%`]))[0]!.n, n)
    })
  }
})

describe('audienceSize', { concurrency: false }, () => {
  before(async () => {
    await query(db.url, `DELETE FROM subscribers`)
    // 400 subscribers, tags from the id's bits; every 5th opted out, every 7th pending.
    await query(
      db.url,
      `INSERT INTO subscribers (phone, tags, opt_status, opted_in_at, opt_in_method, opted_out_at, opt_out_method)
       SELECT '+2013' || lpad(i::text, 8, '0'),
              array_remove(ARRAY[CASE WHEN i % 2 = 0 THEN 'vip' END, CASE WHEN i % 3 = 0 THEN 'news' END,
                                 CASE WHEN i % 5 = 1 THEN 'promo' END, CASE WHEN i % 11 = 0 THEN 'churned' END], NULL),
              CASE WHEN i % 5 = 0 THEN 'opted_out' WHEN i % 7 = 0 THEN 'pending' ELSE 'opted_in' END::opt_status,
              CASE WHEN i % 7 <> 0 OR i % 5 = 0 THEN now() - interval '1 day' END,
              CASE WHEN i % 7 <> 0 OR i % 5 = 0 THEN 'import'::consent_method END,
              CASE WHEN i % 5 = 0 THEN now() END, CASE WHEN i % 5 = 0 THEN 'manual'::consent_method END
         FROM generate_series(1, 400) i`,
    )
  })

  const cases: Array<[string, Parameters<typeof audienceSize>[1], string]> = [
    ['all/any/none', { all: ['vip'], any: ['news', 'promo'], none: ['churned'] }, `tags @> '{vip}' AND tags && '{news,promo}' AND NOT tags && '{churned}'`],
    ['all only', { all: ['vip', 'news'] }, `tags @> '{vip,news}'`],
    ['any only', { any: ['promo', 'churned'] }, `tags && '{promo,churned}'`],
    ['none only', { none: ['vip'] }, `NOT tags && '{vip}'`],
    ['empty expression = every opted-in subscriber', {}, 'true'],
    ['empty parts do not filter', { all: [], any: [], none: [] }, 'true'],
    ['unknown tag', { any: ['nope'] }, 'false'],
  ]
  for (const [label, getDb] of paths) {
    for (const [name, expr, where] of cases) {
      test(`${label}: ${name}`, async () => {
        const [expected] = await query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM subscribers WHERE opt_status = 'opted_in' AND ${where}`)
        assert.ok(name === 'unknown tag' || expected!.n > 0, 'the case should select someone')
        assert.equal(await audienceSize(getDb(), expr), expected!.n)
      })
    }
  }

  test('rejects malformed expressions with a hint', async () => {
    await assert.rejects(audienceSize(prisma, { any: [''] }), /^ApiInputError: audienceSize: `any` holds an empty or non-string tag\. Pass non-empty tag strings$/)
    await assert.rejects(audienceSize(prisma, { all: 'vip' as unknown as string[] }), /`all` must be an array of tags/)
  })
})
