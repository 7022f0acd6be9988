// The database rules, checked with raw SQL against a real PostgreSQL: CHECK constraints,
// the opt-out trigger, each foreign key's ON DELETE, the updated_at trigger and the
// trigger-maintained counters.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'

import { createTestDatabase, type TestDatabase } from './helpers/db.ts'
import { applyAllMigrations } from './helpers/migrations.ts'

const HASH = 'scrypt$131072$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g='

let db: TestDatabase
let client: pg.Client

before(async () => {
  db = await createTestDatabase('schema_rules')
  await applyAllMigrations(db.url)
  client = new pg.Client({ connectionString: db.url })
  await client.connect()
})

after(async () => {
  await client?.end()
  await db?.drop()
})

async function one<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T> {
  return (await client.query(sql, params)).rows[0] as T
}

/** Runs `sql` in a savepoint-free transaction that is always rolled back; returns the error. */
async function rejects(sql: string, params: unknown[] = []): Promise<pg.DatabaseError> {
  await client.query('BEGIN')
  try {
    await client.query(sql, params)
  } catch (err) {
    return err as pg.DatabaseError
  } finally {
    await client.query('ROLLBACK')
  }
  assert.fail(`expected the database to reject: ${sql}`)
}

let seq = 0
async function user(email = `user${++seq}@watify.test`): Promise<number> {
  return (await one<{ id: number }>(`INSERT INTO users (email, name, password_hash) VALUES ($1, 'U', $2) RETURNING id`, [email, HASH])).id
}
async function group(): Promise<number> {
  return (await one<{ id: number }>(`INSERT INTO whatsapp_groups (whatsapp_group_id, name) VALUES ($1, 'G') RETURNING id`, [`1203630${100000 + ++seq}@g.us`])).id
}
async function subscriber(status: 'opted_in' | 'opted_out' | 'pending' = 'opted_in', tags: string[] = []): Promise<number> {
  const phone = `+1415555${String(1000 + ++seq).padStart(4, '0')}`
  const sql =
    status === 'opted_in'
      ? `INSERT INTO subscribers (phone, tags, opt_status, opted_in_at, opt_in_method) VALUES ($1, $2, 'opted_in', now(), 'web_form') RETURNING id`
      : status === 'opted_out'
        ? `INSERT INTO subscribers (phone, tags, opt_status, opted_out_at, opt_out_method, opt_out_reason) VALUES ($1, $2, 'opted_out', now(), 'whatsapp_keyword', 'STOP') RETURNING id`
        : `INSERT INTO subscribers (phone, tags) VALUES ($1, $2) RETURNING id`
  return (await one<{ id: number }>(sql, [phone, tags])).id
}
async function campaign(ownerId: number | null = null): Promise<number> {
  return (await one<{ id: number }>(`INSERT INTO campaigns (owner_id, name, body) VALUES ($1, 'C', 'Hello') RETURNING id`, [ownerId])).id
}
async function message(fields: Record<string, unknown>): Promise<string> {
  const row = { direction: 'outbound', body: 'hi', ...fields }
  const cols = Object.keys(row)
  const sql = `INSERT INTO messages (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING id`
  return (await one<{ id: string }>(sql, Object.values(row))).id
}

describe('CHECK constraints reject bad data', () => {
  test('malformed phone numbers', async () => {
    // too long for varchar(16) (E.164 allows 15 digits): rejected by the column type first
    assert.equal((await rejects(`INSERT INTO subscribers (phone) VALUES ('+1234567890123456')`)).code, '22001')
    for (const phone of ['0501234567', '+0501234567', '+1234567', '+12345678901234 ', '+1 415 555 0100', '+1415555010a']) {
      const err = await rejects(`INSERT INTO subscribers (phone) VALUES ($1)`, [phone])
      assert.equal(err.code, '23514', phone)
      assert.equal(err.constraint, 'subscribers_phone_e164_check', phone)
    }
    await client.query(`INSERT INTO subscribers (phone) VALUES ('+14155550100'), ('+971501234567'), ('+12345678')`)
  })

  test('an email differing only in case, or not normalized', async () => {
    await user('owner@watify.test')
    const dup = await rejects(`INSERT INTO users (email, name, password_hash) VALUES ('Owner@Watify.test', 'X', $1)`, [HASH])
    assert.equal(dup.constraint, 'users_email_normalized_check')
    const same = await rejects(`INSERT INTO users (email, name, password_hash) VALUES ('owner@watify.test', 'X', $1)`, [HASH])
    assert.equal(same.code, '23505')
    assert.equal(same.constraint, 'users_email_key')
    const spaced = await rejects(`INSERT INTO users (email, name, password_hash) VALUES (' x@watify.test', 'X', $1)`, [HASH])
    assert.equal(spaced.code, '23514')
    assert.match(spaced.constraint ?? '', /^users_email_(normalized|format)_check$/)
    assert.equal((await rejects(`INSERT INTO users (email, name, password_hash) VALUES ('not-an-email', 'X', $1)`, [HASH])).constraint, 'users_email_format_check')
  })

  test('a password that is not an scrypt hash', async () => {
    const err = await rejects(`INSERT INTO users (email, name, password_hash) VALUES ('p@watify.test', 'X', 'hunter22')`)
    assert.equal(err.constraint, 'users_password_hash_format_check')
  })

  test('negative counters', async () => {
    const g = await group()
    assert.equal((await rejects(`UPDATE whatsapp_groups SET member_count = -1 WHERE id = $1`, [g])).constraint, 'whatsapp_groups_member_count_check')
    const u = await user()
    assert.equal((await rejects(`UPDATE users SET failed_login_attempts = -1 WHERE id = $1`, [u])).constraint, 'users_failed_login_attempts_check')
    const c = await campaign()
    assert.equal((await rejects(`UPDATE campaigns SET failed_count = -1 WHERE id = $1`, [c])).constraint, 'campaigns_counters_check')
    assert.equal((await rejects(`UPDATE campaigns SET sent_count = 5 WHERE id = $1`, [c])).constraint, 'campaigns_counters_order_check')
  })

  test('message status and timestamps must agree', async () => {
    const s = await subscriber()
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ subscriber_id: s, status: 'sent', whatsapp_message_id: 'wamid.a1' }, 'messages_status_timestamps_check'], // sent without sent_at
      [{ subscriber_id: s, status: 'queued', sent_at: new Date() }, 'messages_status_timestamps_check'], // queued with sent_at
      [{ subscriber_id: s, status: 'delivered', whatsapp_message_id: 'wamid.a2', delivered_at: new Date(), read_at: new Date() }, 'messages_status_timestamps_check'],
      [{ subscriber_id: s, status: 'failed' }, 'messages_status_timestamps_check'], // failed without failed_at
      [{ subscriber_id: s, status: 'sent', sent_at: new Date() }, 'messages_whatsapp_message_id_check'], // sent without WhatsApp id
      [{ subscriber_id: s, status: 'queued', error_code: '131026' }, 'messages_error_check'],
      [{ subscriber_id: s, direction: 'inbound', status: 'queued', whatsapp_message_id: 'wamid.a3' }, 'messages_direction_status_check'],
      [{ subscriber_id: s, direction: 'outbound', status: 'received', whatsapp_message_id: 'wamid.a4' }, 'messages_direction_status_check'],
      [{ subscriber_id: s, type: 'text', body: null }, 'messages_text_body_check'],
      [{ subscriber_id: s, media_size_bytes: -1 }, 'messages_media_size_check'],
    ]
    for (const [fields, constraint] of cases) {
      const cols = Object.keys({ direction: 'outbound', body: 'hi', ...fields })
      const values = Object.values({ direction: 'outbound', body: 'hi', ...fields })
      const err = await rejects(`INSERT INTO messages (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`, values)
      assert.equal(err.constraint, constraint, JSON.stringify(fields))
    }
    // and the valid ones pass
    await message({ subscriber_id: s, status: 'delivered', whatsapp_message_id: 'wamid.ok1', delivered_at: new Date() })
    await message({ subscriber_id: s, status: 'failed', failed_at: new Date(), error_code: '131026', error_reason: 'Undeliverable' })
  })

  test('campaign status and timestamps must agree', async () => {
    const c = await campaign()
    const cases: Array<[string, string]> = [
      [`UPDATE campaigns SET status = 'scheduled' WHERE id = $1`, 'campaigns_scheduled_at_check'],
      [`UPDATE campaigns SET status = 'running' WHERE id = $1`, 'campaigns_started_at_check'],
      [`UPDATE campaigns SET status = 'completed', started_at = now() WHERE id = $1`, 'campaigns_completed_at_check'],
      [`UPDATE campaigns SET started_at = now() WHERE id = $1`, 'campaigns_started_at_check'], // a draft has not started
      [`UPDATE campaigns SET status = 'completed', started_at = now(), completed_at = now() - interval '1 hour' WHERE id = $1`, 'campaigns_completed_after_started_check'],
      [`UPDATE campaigns SET failure_reason = 'x' WHERE id = $1`, 'campaigns_failure_reason_check'],
      [`UPDATE campaigns SET status = 'scheduled', scheduled_at = now(), body = NULL WHERE id = $1`, 'campaigns_content_check'],
      [`UPDATE campaigns SET target_tags = '{vip,""}' WHERE id = $1`, 'campaigns_target_tags_check'],
    ]
    for (const [sql, constraint] of cases) assert.equal((await rejects(sql, [c])).constraint, constraint, sql)
    const tz = await rejects(`UPDATE campaigns SET timezone = 'Mars/Olympus_Mons' WHERE id = $1`, [c])
    assert.match(tz.message, /time zone "Mars\/Olympus_Mons" not recognized/)
    await client.query(`UPDATE campaigns SET status = 'scheduled', scheduled_at = now() + interval '1 day', timezone = 'Asia/Dubai' WHERE id = $1`, [c])
  })

  test('subscriber consent must be recorded with when and how', async () => {
    const cases: Array<[string, string]> = [
      [`INSERT INTO subscribers (phone, opt_status) VALUES ('+14155550200', 'opted_in')`, 'subscribers_opt_status_check'],
      [`INSERT INTO subscribers (phone, opt_status, opted_in_at) VALUES ('+14155550201', 'opted_in', now())`, 'subscribers_opt_in_recorded_check'],
      [`INSERT INTO subscribers (phone, opt_status, opted_out_at, opt_out_method) VALUES ('+14155550202', 'opted_in', now(), 'manual')`, 'subscribers_opt_status_check'],
      [`INSERT INTO subscribers (phone, opt_out_reason) VALUES ('+14155550203', 'spam')`, 'subscribers_opt_out_reason_check'],
      [`INSERT INTO subscribers (phone, tags) VALUES ('+14155550204', '{vip,NULL}')`, 'subscribers_tags_check'],
      [`INSERT INTO subscribers (phone, attributes) VALUES ('+14155550205', '[1]')`, 'subscribers_attributes_check'],
    ]
    for (const [sql, constraint] of cases) assert.equal((await rejects(sql)).constraint, constraint, sql)
  })

  test('tag arrays are never NULL (subscribers.tags, campaigns.target_tags)', async () => {
    const c = await campaign()
    for (const [sql, params, column] of [
      [`INSERT INTO subscribers (phone, tags) VALUES ('+14155550206', NULL)`, [], 'tags'],
      [`UPDATE campaigns SET target_tags = NULL WHERE id = $1`, [c], 'target_tags'],
    ] as const) {
      const err = await rejects(sql, [...params])
      assert.deepEqual([err.code, err.column], ['23502', column], sql)
    }
  })

  test('one message per subscriber per campaign', async () => {
    const c = await campaign()
    const s = await subscriber()
    await client.query(`INSERT INTO messages (subscriber_id, campaign_id, direction, body) VALUES ($1, $2, 'outbound', 'x')`, [s, c])
    const err = await rejects(`INSERT INTO messages (subscriber_id, campaign_id, direction, body) VALUES ($1, $2, 'outbound', 'again')`, [s, c])
    assert.deepEqual([err.code, err.constraint], ['23505', 'messages_campaign_id_subscriber_id_key'])
    // 1:1 messages (no campaign) to the same person are not limited.
    await client.query(`INSERT INTO messages (subscriber_id, direction, body) VALUES ($1, 'outbound', 'a'), ($1, 'outbound', 'b')`, [s])
  })
})

describe('opt-out rule', () => {
  test('an outbound campaign message to an opted-out subscriber is rejected with SQLSTATE WA001', async () => {
    const c = await campaign()
    const ok = await subscriber('opted_in')
    const out = await subscriber('opted_out')
    const err = await rejects(
      `INSERT INTO messages (subscriber_id, campaign_id, direction, body) VALUES ($1, $3, 'outbound', 'x'), ($2, $3, 'outbound', 'x')`,
      [ok, out, c],
    )
    assert.equal(err.code, 'WA001')
    assert.equal(err.message, `subscriber ${out} has opted out: campaign ${c} cannot message them (1 such message(s) in this insert)`)
    assert.match(err.hint ?? '', /opt_status = 'opted_in'/)
    // the whole statement was rolled back, including the row for the opted-in subscriber
    assert.equal((await one<{ n: string }>(`SELECT count(*) AS n FROM messages WHERE campaign_id = $1`, [c])).n, '0')
  })

  test('replies (no campaign) and inbound messages from opted-out subscribers are allowed', async () => {
    const out = await subscriber('opted_out')
    await message({ subscriber_id: out })
    await message({ subscriber_id: out, direction: 'inbound', status: 'received', whatsapp_message_id: `wamid.in.${out}` })
    const c = await campaign()
    await message({ subscriber_id: await subscriber('pending'), campaign_id: c })
  })
})

describe('ON DELETE behaves as documented', () => {
  test('deleting a campaign that has messages is refused; a draft without messages deletes (with its targeting)', async () => {
    const c = await campaign()
    const s = await subscriber()
    await message({ subscriber_id: s, campaign_id: c })
    const err = await rejects(`DELETE FROM campaigns WHERE id = $1`, [c])
    assert.equal(err.code, '23503')
    assert.equal(err.constraint, 'messages_campaign_id_fkey')

    const draft = await campaign()
    const g = await group()
    await client.query(`INSERT INTO campaign_groups (campaign_id, group_id) VALUES ($1, $2)`, [draft, g])
    await client.query(`DELETE FROM campaigns WHERE id = $1`, [draft])
    assert.equal((await one<{ n: string }>(`SELECT count(*) AS n FROM campaign_groups WHERE campaign_id = $1`, [draft])).n, '0')
  })

  test('deleting a user keeps their campaigns and messages (owner and sender become NULL) and drops their admin assignments', async () => {
    const u = await user()
    const c = await campaign(u)
    const g = await group()
    await client.query(`INSERT INTO group_admins (group_id, user_id) VALUES ($1, $2)`, [g, u])
    const m = await message({ subscriber_id: await subscriber(), sender_user_id: u })
    await client.query(`DELETE FROM users WHERE id = $1`, [u])
    assert.deepEqual(await one(`SELECT owner_id FROM campaigns WHERE id = $1`, [c]), { owner_id: null })
    assert.deepEqual(await one(`SELECT sender_user_id FROM messages WHERE id = $1`, [m]), { sender_user_id: null })
    assert.equal((await one<{ n: string }>(`SELECT count(*) AS n FROM group_admins WHERE user_id = $1`, [u])).n, '0')
  })

  test('deleting a subscriber keeps their messages (detached) and removes their memberships', async () => {
    const s = await subscriber()
    const g = await group()
    await client.query(`INSERT INTO group_members (group_id, subscriber_id) VALUES ($1, $2)`, [g, s])
    const m = await message({ subscriber_id: s })
    await client.query(`DELETE FROM subscribers WHERE id = $1`, [s])
    assert.deepEqual(await one(`SELECT subscriber_id, body FROM messages WHERE id = $1`, [m]), { subscriber_id: null, body: 'hi' })
    assert.equal((await one<{ n: string }>(`SELECT count(*) AS n FROM group_members WHERE subscriber_id = $1`, [s])).n, '0')
  })

  test('deleting a group keeps its messages and removes memberships, admin assignments and campaign targets', async () => {
    const g = await group()
    const s = await subscriber()
    const c = await campaign()
    await client.query(`INSERT INTO group_members (group_id, subscriber_id) VALUES ($1, $2)`, [g, s])
    await client.query(`INSERT INTO group_admins (group_id, user_id) VALUES ($1, $2)`, [g, await user()])
    await client.query(`INSERT INTO campaign_groups (campaign_id, group_id) VALUES ($1, $2)`, [c, g])
    const m = await message({ group_id: g })
    await client.query(`DELETE FROM whatsapp_groups WHERE id = $1`, [g])
    assert.deepEqual(await one(`SELECT group_id FROM messages WHERE id = $1`, [m]), { group_id: null })
    for (const t of ['group_members', 'group_admins', 'campaign_groups']) {
      assert.equal((await one<{ n: string }>(`SELECT count(*) AS n FROM ${t} WHERE group_id = $1`, [g])).n, '0', t)
    }
  })
})

describe('triggers', () => {
  test('a raw SQL UPDATE moves updated_at; a no-op UPDATE does not', async () => {
    for (const [table, id, set] of [
      ['users', await user(), `name = 'Renamed'`],
      ['whatsapp_groups', await group(), `name = 'Renamed'`],
      ['subscribers', await subscriber(), `name = 'Renamed'`],
      ['campaigns', await campaign(), `name = 'Renamed'`],
      ['messages', await message({ subscriber_id: await subscriber() }), `body = 'edited'`],
    ] as const) {
      await client.query(`UPDATE ${table} SET updated_at = '2000-01-01' WHERE id = $1`, [id])
      // the trigger sets now() on every real change, including one that only touches updated_at
      const first = await one<{ updated_at: Date }>(`SELECT updated_at FROM ${table} WHERE id = $1`, [id])
      assert.ok(first.updated_at.getFullYear() > 2000, table)
      // an old value written with the trigger off, so a no-op UPDATE has something to (not) move
      await client.query(`ALTER TABLE ${table} DISABLE TRIGGER ${table}_set_updated_at`)
      await client.query(`UPDATE ${table} SET updated_at = '2000-01-01' WHERE id = $1`, [id])
      await client.query(`ALTER TABLE ${table} ENABLE TRIGGER ${table}_set_updated_at`)
      const noop = await client.query(`UPDATE ${table} SET id = id WHERE id = $1 RETURNING updated_at`, [id])
      assert.equal((noop.rows[0] as { updated_at: Date }).updated_at.toISOString(), '2000-01-01T00:00:00.000Z', `${table}: no-op`)
      const moved = await client.query(`UPDATE ${table} SET ${set} WHERE id = $1 RETURNING updated_at`, [id])
      assert.ok((moved.rows[0] as { updated_at: Date }).updated_at.getFullYear() > 2000, `${table}: real change`)
    }
  })

  test('member_count follows inserts, moves, deletes and truncation of group_members', async () => {
    const [g1, g2] = [await group(), await group()]
    const subs = [await subscriber(), await subscriber(), await subscriber()]
    const counts = async () => (await client.query(`SELECT member_count FROM whatsapp_groups WHERE id = ANY($1) ORDER BY id`, [[g1, g2]])).rows.map((r) => r.member_count)
    await client.query(`INSERT INTO group_members (group_id, subscriber_id) SELECT $1, unnest($2::int[])`, [g1, subs])
    assert.deepEqual(await counts(), [3, 0])
    await client.query(`UPDATE group_members SET group_id = $2 WHERE group_id = $1 AND subscriber_id = $3`, [g1, g2, subs[0]])
    assert.deepEqual(await counts(), [2, 1])
    await client.query(`DELETE FROM subscribers WHERE id = $1`, [subs[1]]) // cascades to the membership
    assert.deepEqual(await counts(), [1, 1])
    await client.query('BEGIN')
    await client.query(`TRUNCATE group_members`)
    assert.deepEqual(await counts(), [0, 0])
    await client.query('ROLLBACK')
  })

  test('campaign counters (campaign row + shards) equal the aggregates over its messages, before and after a fold', async () => {
    const c = await campaign()
    const subs = [await subscriber(), await subscriber(), await subscriber(), await subscriber()]
    await client.query(`INSERT INTO messages (subscriber_id, campaign_id, direction, body) SELECT unnest($1::int[]), $2, 'outbound', 'x'`, [subs, c])
    const stats = () =>
      one(
        `SELECT c.total_recipients + coalesce(sum(s.total), 0)::int AS total_recipients, c.sent_count + coalesce(sum(s.sent), 0)::int AS sent_count,
                c.delivered_count + coalesce(sum(s.delivered), 0)::int AS delivered_count, c.read_count + coalesce(sum(s.read), 0)::int AS read_count,
                c.failed_count + coalesce(sum(s.failed), 0)::int AS failed_count
           FROM campaigns c LEFT JOIN campaign_counter_shards s ON s.campaign_id = c.id WHERE c.id = $1 GROUP BY c.id`,
        [c],
      )
    const row = () => one(`SELECT total_recipients, sent_count, delivered_count, read_count, failed_count FROM campaigns WHERE id = $1`, [c])
    assert.deepEqual(await stats(), { total_recipients: 4, sent_count: 0, delivered_count: 0, read_count: 0, failed_count: 0 })
    await client.query(`UPDATE messages SET status = 'sent', sent_at = now(), whatsapp_message_id = 'wamid.cs.' || id WHERE campaign_id = $1`, [c])
    await client.query(`UPDATE messages SET status = 'delivered', delivered_at = now() WHERE whatsapp_message_id = ANY(SELECT whatsapp_message_id FROM messages WHERE campaign_id = $1 ORDER BY id LIMIT 2)`, [c])
    await client.query(`UPDATE messages SET status = 'read', read_at = now() WHERE campaign_id = $1 AND status = 'delivered' AND id = (SELECT min(id) FROM messages WHERE campaign_id = $1)`, [c])
    await client.query(`UPDATE messages SET status = 'failed', failed_at = now(), error_code = '131026' WHERE campaign_id = $1 AND id = (SELECT max(id) FROM messages WHERE campaign_id = $1)`, [c])
    assert.deepEqual(await stats(), { total_recipients: 4, sent_count: 3, delivered_count: 2, read_count: 1, failed_count: 1 })
    assert.deepEqual(await row(), { total_recipients: 0, sent_count: 0, delivered_count: 0, read_count: 0, failed_count: 0 }, 'changes wait in the shards')
    assert.deepEqual(await one(`SELECT campaign_counters_fold($1) AS n`, [c]), { n: 1 })
    assert.deepEqual(await row(), { total_recipients: 4, sent_count: 3, delivered_count: 2, read_count: 1, failed_count: 1 }, 'the fold moves them into the row')
    assert.deepEqual(await one(`SELECT count(*)::int AS n FROM campaign_counter_shards WHERE campaign_id = $1`, [c]), { n: 0 })
    await client.query(`DELETE FROM messages WHERE campaign_id = $1 AND status = 'failed'`, [c])
    assert.deepEqual(await stats(), { total_recipients: 3, sent_count: 3, delivered_count: 2, read_count: 1, failed_count: 0 })
    // A change of neither status nor campaign writes no shard row.
    await client.query(`SELECT campaign_counters_fold($1)`, [c])
    await client.query(`UPDATE messages SET body = 'y' WHERE campaign_id = $1`, [c])
    assert.deepEqual(await one(`SELECT count(*)::int AS n FROM campaign_counter_shards WHERE campaign_id = $1`, [c]), { n: 0 })
    await client.query('BEGIN')
    await client.query('TRUNCATE messages')
    assert.deepEqual(await stats(), { total_recipients: 0, sent_count: 0, delivered_count: 0, read_count: 0, failed_count: 0 })
    await client.query('ROLLBACK')
  })
})
