// src/api campaign and message paths (fanOutCampaign, markMessageSent, recordDeliveryStatus,
// campaignPerformance, subscriberHistory) on a fresh database with the project's
// migrations applied; results checked with SQL, through both executors.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { campaignPerformance, fanOutCampaign, markMessageSent, recordDeliveryStatus, subscriberHistory } from '../src/api/index.ts'
import { countedByStatus, openApiDatabase } from './helpers/api.ts'
import { query } from './helpers/db.ts'

// Set up before the tests are declared: they are declared once per executor path.
const { db, pool, prisma, paths, close } = await openApiDatabase('api_campaigns')
after(close)

before(async () => {
  // 60 subscribers: tags from the id; every 6th opted out, every 10th pending. Group 1 holds ids 1..10.
  await query(
    db.url,
    `INSERT INTO subscribers (id, phone, tags, opt_status, opted_in_at, opt_in_method, opted_out_at, opt_out_method)
     SELECT i, '+2014' || lpad(i::text, 8, '0'),
            array_remove(ARRAY[CASE WHEN i % 2 = 0 THEN 'news' END, CASE WHEN i % 3 = 0 THEN 'promo' END], NULL),
            CASE WHEN i % 6 = 0 THEN 'opted_out' WHEN i % 10 = 0 THEN 'pending' ELSE 'opted_in' END::opt_status,
            CASE WHEN i % 10 <> 0 OR i % 6 = 0 THEN now() - interval '1 day' END,
            CASE WHEN i % 10 <> 0 OR i % 6 = 0 THEN 'import'::consent_method END,
            CASE WHEN i % 6 = 0 THEN now() END, CASE WHEN i % 6 = 0 THEN 'manual'::consent_method END
       FROM generate_series(1, 60) i;
     SELECT setval('subscribers_id_seq', 60);
     INSERT INTO whatsapp_groups (whatsapp_group_id, name) VALUES ('120363000000000001@g.us', 'G1');
     INSERT INTO group_members (group_id, subscriber_id) SELECT 1, i FROM generate_series(1, 10) i;`,
  )
})

async function campaign(fields: { tags?: string[]; match?: 'any' | 'all'; group?: boolean; status?: string; body?: string | null }): Promise<number> {
  const [c] = await query<{ id: number }>(
    db.url,
    `INSERT INTO campaigns (name, body, target_tags, target_tag_match, status, started_at, completed_at)
     VALUES ('t', $1, $2, $3, $4::campaign_status, CASE WHEN $4 = 'completed' THEN now() END, CASE WHEN $4 = 'completed' THEN now() END) RETURNING id`,
    [fields.body === undefined ? 'Hello' : fields.body, fields.tags ?? [], fields.match ?? 'any', fields.status ?? 'draft'],
  )
  if (fields.group) await query(db.url, 'INSERT INTO campaign_groups (campaign_id, group_id) VALUES ($1, 1)', [c!.id])
  return c!.id
}

const recipients = async (id: number) =>
  (await query<{ subscriber_id: number }>(db.url, 'SELECT subscriber_id FROM messages WHERE campaign_id = $1 ORDER BY subscriber_id', [id])).map((r) => r.subscriber_id)

const expected = (pred: (i: number) => boolean) =>
  Array.from({ length: 60 }, (_, k) => k + 1).filter((i) => i % 6 !== 0 && i % 10 !== 0 && pred(i)) // opted in only

describe('fanOutCampaign', { concurrency: false }, () => {
  for (const [label, getDb] of paths) {
    test(`${label}: queues one message per opted-in target (tags any, union with group members), idempotently`, async () => {
      const id = await campaign({ tags: ['news', 'promo'], group: true })
      const want = expected((i) => i % 2 === 0 || i % 3 === 0 || i <= 10)
      const r = await fanOutCampaign(getDb(), id)
      assert.deepEqual(r, { campaignId: id, inserted: want.length, totalRecipients: want.length, status: 'RUNNING' })
      assert.deepEqual(await recipients(id), want)
      const [c] = await query<{ total_recipients: number; status: string; started_at: Date | null }>(db.url, 'SELECT total_recipients, status::text, started_at FROM campaigns WHERE id = $1', [id])
      assert.equal(c!.total_recipients, want.length)
      assert.equal(c!.status, 'running')
      assert.ok(c!.started_at)
      const [m] = await query(db.url, `SELECT DISTINCT direction::text, type::text, body, status::text FROM messages WHERE campaign_id = $1`, [id])
      assert.deepEqual(m, { direction: 'outbound', type: 'text', body: 'Hello', status: 'queued' })

      // Run again: nothing new. A subscriber who starts matching later gets exactly one message.
      assert.deepEqual(await fanOutCampaign(getDb(), id), { campaignId: id, inserted: 0, totalRecipients: want.length, status: 'RUNNING' })
      await query(db.url, `UPDATE subscribers SET tags = '{promo}' WHERE id = 1`)
      assert.equal((await fanOutCampaign(getDb(), id)).inserted, 0, 'subscriber 1 was already messaged (group member)')
      await query(db.url, `UPDATE subscribers SET tags = '{promo}' WHERE id = 11`)
      assert.deepEqual(await fanOutCampaign(getDb(), id), { campaignId: id, inserted: 1, totalRecipients: want.length + 1, status: 'RUNNING' })
      await query(db.url, `UPDATE subscribers SET tags = '{}' WHERE id IN (1, 11)`)
    })

    test(`${label}: tags all`, async () => {
      const id = await campaign({ tags: ['news', 'promo'], match: 'all' })
      const r = await fanOutCampaign(getDb(), id)
      assert.deepEqual(await recipients(id), expected((i) => i % 6 === 0)) // news and promo = multiple of 6 = opted out
      assert.equal(r.inserted, 0)
      const id2 = await campaign({ tags: ['news'], match: 'all' })
      assert.deepEqual(await recipients((await fanOutCampaign(getDb(), id2)).campaignId), expected((i) => i % 2 === 0))
    })
  }

  test('two concurrent fan-outs of one campaign message each subscriber once', async () => {
    const id = await campaign({ tags: ['news'] })
    const [a, b] = await Promise.all([fanOutCampaign({ prisma, pool }, id), fanOutCampaign({ prisma, pool }, id)])
    const want = expected((i) => i % 2 === 0)
    assert.equal(a.inserted + b.inserted, want.length)
    assert.deepEqual(await recipients(id), want)
  })

  test('refuses campaigns it cannot fan out, with the fix, and writes nothing', async () => {
    const none = await campaign({})
    await assert.rejects(fanOutCampaign(prisma, none), new RegExp(`^ApiInputError: fanOutCampaign: campaign ${none} has no targeting\\. Set target_tags or add campaign_groups`))
    const empty = await campaign({ tags: ['news'], body: null })
    await assert.rejects(fanOutCampaign(prisma, empty), /has no content\. Set its body, template_name or media_url first/)
    const done = await campaign({ tags: ['news'], status: 'completed' })
    await assert.rejects(fanOutCampaign(prisma, done), new RegExp(`campaign ${done} is completed\\. Only draft, scheduled, running or paused`))
    await assert.rejects(fanOutCampaign(prisma, 999999), /campaign 999999 does not exist/)
    await assert.rejects(fanOutCampaign(prisma, 1.5), /is not a positive integer/)
    for (const id of [none, empty, done]) assert.deepEqual(await recipients(id), [])
  })
})

describe('markMessageSent', { concurrency: false }, () => {
  let cid: number
  let ids: bigint[]
  before(async () => {
    cid = await campaign({ tags: ['promo'], match: 'all' })
    await fanOutCampaign(prisma, cid)
    ids = (await query<{ id: string }>(db.url, 'SELECT id::text FROM messages WHERE campaign_id = $1 ORDER BY id', [cid])).map((r) => BigInt(r.id))
    assert.ok(ids.length >= 6)
  })
  const msg = async (id: bigint) =>
    (await query<{ status: string; whatsapp_message_id: string | null; sent_at: Date | null; updated_at: Date }>(
      db.url, 'SELECT status::text, whatsapp_message_id, sent_at, updated_at FROM messages WHERE id = $1', [id.toString()]))[0]!
  const counters = async () =>
    (
      await query<{ total_recipients: number; sent_count: number }>(
        db.url,
        `SELECT c.total_recipients + coalesce(sum(s.total), 0)::int AS total_recipients, c.sent_count + coalesce(sum(s.sent), 0)::int AS sent_count
           FROM campaigns c LEFT JOIN campaign_counter_shards s ON s.campaign_id = c.id WHERE c.id = $1 GROUP BY c.id`,
        [cid],
      )
    )[0]!
  const t = (s: number) => new Date(Date.UTC(2026, 4, 2, 9, 0, s))

  for (const [label, getDb] of paths) {
    const [a, b, c] = label === 'pool' ? [0, 1, 2] : [3, 4, 5]
    test(`${label}: queued -> sent with its WhatsApp id, once; webhooks then find it`, async () => {
      const before = await counters()
      assert.deepEqual(await markMessageSent(getDb(), ids[a]!, `wamid.S${a}`, t(1)), { outcome: 'updated', status: 'SENT' })
      let m = await msg(ids[a]!)
      assert.deepEqual([m.status, m.whatsapp_message_id, m.sent_at], ['sent', `wamid.S${a}`, t(1)])
      assert.equal((await counters()).sent_count, before.sent_count + 1, 'the campaign counter follows')
      const stamp = m.updated_at
      // A retried call (same or another id) changes nothing: the first id stays, webhooks keep finding it.
      assert.deepEqual(await markMessageSent(getDb(), ids[a]!, `wamid.S${a}`, t(2)), { outcome: 'ignored', status: 'SENT' })
      assert.deepEqual(await markMessageSent(getDb(), ids[a]!, `wamid.other${a}`, t(3)), { outcome: 'ignored', status: 'SENT' })
      m = await msg(ids[a]!)
      assert.deepEqual([m.status, m.whatsapp_message_id, m.sent_at, m.updated_at], ['sent', `wamid.S${a}`, t(1), stamp])
      assert.deepEqual(await recordDeliveryStatus(getDb(), `wamid.S${a}`, 'DELIVERED', t(4)), { outcome: 'updated', status: 'DELIVERED' })
      assert.deepEqual(await markMessageSent(getDb(), ids[a]!, `wamid.S${a}`, t(5)), { outcome: 'ignored', status: 'DELIVERED' })
      // Numbers are accepted as ids too; a failed message is not sent afterwards.
      assert.deepEqual(await markMessageSent(getDb(), Number(ids[b]!), `wamid.S${b}`, t(6)), { outcome: 'updated', status: 'SENT' })
      assert.deepEqual(await recordDeliveryStatus(getDb(), `wamid.S${b}`, 'FAILED', t(7), { code: '131026' }), { outcome: 'updated', status: 'FAILED' })
      assert.deepEqual(await markMessageSent(getDb(), ids[b]!, `wamid.S${b}`, t(8)), { outcome: 'ignored', status: 'FAILED' })
      assert.equal((await msg(ids[b]!)).status, 'failed')
      // An id another message already has is refused, and the message stays queued.
      await assert.rejects(
        markMessageSent(getDb(), ids[c]!, `wamid.S${a}`, t(9)),
        new RegExp(`^ApiInputError: markMessageSent: WhatsApp message id \`wamid\\.S${a}\` already belongs to message ${ids[a]}\\. Pass the id WhatsApp returned for this message; each sent message has its own$`),
      )
      assert.deepEqual([(await msg(ids[c]!)).status, (await msg(ids[c]!)).whatsapp_message_id], ['queued', null])
      assert.deepEqual(await markMessageSent(getDb(), 999999999n, 'wamid.none', t(10)), { outcome: 'not_found', status: null })
    })
  }

  test('inbound messages are not sent; bad input is refused before writing', async () => {
    const [inbound] = await query<{ id: string }>(
      db.url, `INSERT INTO messages (subscriber_id, direction, type, body, whatsapp_message_id, status) VALUES (1, 'inbound', 'text', 'hi', 'wamid.in1', 'received') RETURNING id::text`)
    assert.deepEqual(await markMessageSent(prisma, BigInt(inbound!.id), 'wamid.in', t(1)), { outcome: 'ignored', status: 'RECEIVED' })
    assert.equal((await msg(BigInt(inbound!.id))).whatsapp_message_id, 'wamid.in1')
    await assert.rejects(markMessageSent(prisma, 0n, 'wamid.x', t(1)), /^ApiInputError: markMessageSent: message id `0` is not a positive 64-bit integer\. Pass the message id \(messages\.id\)$/)
    await assert.rejects(markMessageSent(prisma, 1.5, 'wamid.x', t(1)), /message id `1\.5` is not a positive 64-bit integer/)
    await assert.rejects(markMessageSent(prisma, ids[5]!, '', t(1)), /WhatsApp message id `` is empty or longer than 128 characters/)
    await assert.rejects(markMessageSent(prisma, ids[5]!, 'w'.repeat(129), t(1)), /is empty or longer than 128 characters/)
    await assert.rejects(markMessageSent(prisma, ids[5]!, 'wamid.x', new Date('x')), /`at` is not a valid Date/)
    assert.equal((await msg(ids[5]!)).status, 'queued')
    // Test-only rows: remove them so later counts in this file see only what they set up.
    await query(db.url, 'DELETE FROM messages WHERE id = $1', [inbound!.id])
  })
})

describe('recordDeliveryStatus and campaignPerformance', { concurrency: false }, () => {
  let cid: number
  before(async () => {
    cid = await campaign({ tags: ['news'] })
    await fanOutCampaign(prisma, cid)
    // The sender assigns WhatsApp ids when it sends.
    await query(db.url, `UPDATE messages SET whatsapp_message_id = 'wamid.T' || subscriber_id, status = 'sent', sent_at = '2026-05-01T10:00:00Z' WHERE campaign_id = $1`, [cid])
  })
  const msg = async (w: string) =>
    (await query<{ status: string; delivered_at: Date | null; read_at: Date | null; failed_at: Date | null; error_code: string | null; error_reason: string | null; updated_at: Date }>(
      db.url, 'SELECT status::text, delivered_at, read_at, failed_at, error_code, error_reason, updated_at FROM messages WHERE whatsapp_message_id = $1', [w]))[0]!
  const t = (s: number) => new Date(Date.UTC(2026, 4, 1, 10, 0, s))

  for (const [label, getDb] of paths) {
    const [w1, w2] = label === 'pool' ? ['wamid.T2', 'wamid.T4'] : ['wamid.T8', 'wamid.T14']
    test(`${label}: moves forward only; late webhooks fill a missing timestamp; duplicates change nothing`, async () => {
      assert.deepEqual(await recordDeliveryStatus(getDb(), w1, 'READ', t(30)), { outcome: 'updated', status: 'READ' })
      assert.deepEqual(await recordDeliveryStatus(getDb(), w1, 'DELIVERED', t(20)), { outcome: 'updated', status: 'READ' })
      let m = await msg(w1)
      assert.deepEqual([m.status, m.read_at, m.delivered_at], ['read', t(30), t(20)])
      const stamp = m.updated_at
      assert.deepEqual(await recordDeliveryStatus(getDb(), w1, 'DELIVERED', t(25)), { outcome: 'ignored', status: 'READ' })
      assert.deepEqual(await recordDeliveryStatus(getDb(), w1, 'READ', t(40)), { outcome: 'ignored', status: 'READ' })
      assert.deepEqual(await recordDeliveryStatus(getDb(), w1, 'FAILED', t(50), { code: '131047' }), { outcome: 'ignored', status: 'READ' })
      m = await msg(w1)
      assert.deepEqual([m.status, m.read_at, m.delivered_at, m.failed_at, m.updated_at], ['read', t(30), t(20), null, stamp])
    })

    test(`${label}: failed from sent keeps the error; a failed message stays failed`, async () => {
      assert.deepEqual(await recordDeliveryStatus(getDb(), w2, 'FAILED', t(5), { code: '131026', reason: 'Message undeliverable' }), { outcome: 'updated', status: 'FAILED' })
      assert.deepEqual(await recordDeliveryStatus(getDb(), w2, 'DELIVERED', t(6)), { outcome: 'ignored', status: 'FAILED' })
      const m = await msg(w2)
      assert.deepEqual([m.status, m.failed_at, m.error_code, m.error_reason, m.delivered_at], ['failed', t(5), '131026', 'Message undeliverable', null])
    })

    test(`${label}: unknown id and bad input`, async () => {
      assert.deepEqual(await recordDeliveryStatus(getDb(), 'wamid.nope', 'READ', t(1)), { outcome: 'not_found', status: null })
      await assert.rejects(recordDeliveryStatus(getDb(), w1, 'RECEIVED' as 'READ', t(1)), /status `RECEIVED` is not a delivery status\. Use SENT, DELIVERED, READ or FAILED/)
      await assert.rejects(recordDeliveryStatus(getDb(), w1, 'READ', new Date('x')), /`at` is not a valid Date/)
      await assert.rejects(recordDeliveryStatus(getDb(), w1, 'READ', t(1), { code: '1' }), /an error was given with status READ/)
      await assert.rejects(recordDeliveryStatus(getDb(), '', 'READ', t(1)), /is empty or longer than 128/)
    })
  }

  test('campaignPerformance equals aggregates over the campaign messages (both paths)', async () => {
    await recordDeliveryStatus(prisma, 'wamid.T10', 'DELIVERED', t(3)) // 10 is pending: not a recipient -> not_found
    await recordDeliveryStatus(prisma, 'wamid.T16', 'DELIVERED', t(3))
    const agg = await countedByStatus(db.url, cid)
    assert.deepEqual([agg!.delivered, agg!.read, agg!.failed], [3, 2, 2]) // delivered counts read ones too
    for (const [, getDb] of paths) {
      const p = await campaignPerformance(getDb(), cid)
      assert.ok(p)
      assert.deepEqual({ total: p.total, queued: p.queued, sent: p.sent, delivered: p.delivered, read: p.read, failed: p.failed }, agg)
      assert.equal(p.deliveryRate, agg!.delivered! / agg!.sent!)
      assert.equal(p.readRate, 2 / 3)
      assert.equal(p.status, 'RUNNING')
      assert.equal(await campaignPerformance(getDb(), 999999), null)
    }
    await assert.rejects(campaignPerformance(prisma, 0), /is not a positive 32-bit integer/)
  })
})

describe('subscriberHistory', { concurrency: false }, () => {
  const sid = 59
  before(async () => {
    // 25 messages, several sharing a created_at (the id breaks ties), plus other subscribers' noise.
    await query(
      db.url,
      `INSERT INTO messages (subscriber_id, direction, type, body, whatsapp_message_id, status, created_at)
       SELECT $1, 'inbound', 'text', 'm' || i, 'wamid.H' || i, 'received', timestamptz '2026-06-01 00:00:00+00' + (i / 3) * interval '1.5 s'
         FROM generate_series(1, 25) i;
       INSERT INTO messages (subscriber_id, direction, type, body, whatsapp_message_id, status, created_at)
       SELECT 58, 'inbound', 'text', 'x', 'wamid.N' || i, 'received', now() FROM generate_series(1, 5) i`.replace('$1', String(sid)),
    )
  })
  for (const [label, getDb] of paths) {
    test(`${label}: pages newest first through every message exactly once`, async () => {
      const want = await query<{ id: string; body: string }>(db.url, 'SELECT id::text, body FROM messages WHERE subscriber_id = $1 ORDER BY created_at DESC, id DESC', [sid])
      assert.equal(want.length, 25)
      const got: string[] = []
      let cursor: string | null = null
      let pages = 0
      do {
        const page = await subscriberHistory(getDb(), sid, { limit: 7, cursor })
        pages++
        for (const m of page.items) {
          assert.equal(typeof m.id, 'bigint')
          assert.equal(m.direction, 'INBOUND')
          assert.equal(m.status, 'RECEIVED')
          assert.ok(m.createdAt instanceof Date)
          got.push(`${m.id}:${m.body}`)
        }
        cursor = page.nextCursor
      } while (cursor)
      assert.equal(pages, 4)
      assert.deepEqual(got, want.map((w) => `${w.id}:${w.body}`))
      const exact = await subscriberHistory(getDb(), sid, { limit: 25 })
      assert.equal(exact.items.length, 25)
      assert.equal(exact.nextCursor, null, 'no empty last page when the count divides evenly')
      assert.deepEqual(await subscriberHistory(getDb(), 10), { items: [], nextCursor: null }) // pending: never messaged
    })
  }

  test('rejects a forged cursor and an out-of-range limit', async () => {
    await assert.rejects(subscriberHistory(prisma, sid, { cursor: 'bm9wZQ' }), /cursor `bm9wZQ` is not one this API returned\. Pass the `nextCursor` of the previous page/)
    await assert.rejects(subscriberHistory(prisma, sid, { limit: 0 }), /limit `0` is out of range\. Pass a limit from 1 to 200/)
    await assert.rejects(subscriberHistory(prisma, sid, { limit: 201 }), /limit `201` is out of range/)
  })
})
