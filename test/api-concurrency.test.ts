// The hot paths under concurrent load, on a real PostgreSQL: senders claiming from the
// queue, fan-outs racing, a webhook storm (single and batched) while counters are folded.
// Each test builds its own campaign and messages, so any one can run alone.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import pg from 'pg'

import { fanOutStatements } from '../src/api/campaigns.ts'
import { type ApiDb, ApiInputError, campaignPerformance, claimQueuedMessages, createApi, type DeliveryResult, type DeliveryStatus, fanOutCampaign, foldCampaignCounters, recordDeliveryStatus, recordDeliveryStatuses } from '../src/api/index.ts'
import { countedByStatus, openApiDatabase } from './helpers/api.ts'
import { query } from './helpers/db.ts'

const { db, prisma, close } = await openApiDatabase('api_concurrency')
// One pool per concurrent worker: each is its own PostgreSQL session (and counter shard).
const workers: pg.Pool[] = []
const workerDb = (i: number): ApiDb => ({ prisma, pool: workers[i]! })

before(async () => {
  for (let i = 0; i < 8; i++) workers.push(new pg.Pool({ connectionString: db.url, max: 1 }))
  // 2000 opted-in subscribers, all tagged `storm`; every 4th also `news`.
  await query(
    db.url,
    `INSERT INTO subscribers (phone, tags, opt_status, opted_in_at, opt_in_method)
     SELECT '+2015' || lpad(i::text, 8, '0'), CASE WHEN i % 4 = 0 THEN '{storm,news}' ELSE '{storm}' END::text[], 'opted_in', now(), 'import'
       FROM generate_series(1, 2000) i`,
  )
})
after(async () => {
  await Promise.all(workers.map((p) => p.end()))
  await close()
})

let campaigns = 0
async function campaign(tags: string[]): Promise<number> {
  const [c] = await query<{ id: number }>(db.url, `INSERT INTO campaigns (name, body, target_tags) VALUES ($1, 'Hi', $2) RETURNING id`, [`c${++campaigns}`, tags])
  return c!.id
}

/** The campaign's messages counted by status, the way campaignPerformance must agree with. */
async function counted(id: number) {
  const { queued: _queued, ...r } = await countedByStatus(db.url, id)
  return r
}

async function performance(id: number) {
  const p = (await campaignPerformance(workerDb(0), id))!
  return { total: p.total, sent: p.sent, delivered: p.delivered, read: p.read, failed: p.failed }
}

test('4 concurrent senders never get the same message; a dead sender\'s claims come back after the timeout', { timeout: 60_000 }, async () => {
  const id = await campaign(['storm'])
  const { inserted } = await fanOutCampaign(workerDb(0), id)
  assert.equal(inserted, 2000)
  // A sender claims 30 and dies (never sends them).
  const dead = await claimQueuedMessages(workerDb(4), 30)
  assert.equal(dead.length, 30)
  const got: bigint[][] = [[], [], [], []]
  await Promise.all(
    got.map(async (mine, w) => {
      for (;;) {
        const batch = await claimQueuedMessages(workerDb(w), 25, { claimTimeoutMs: 60_000 })
        if (batch.length === 0) return
        mine.push(...batch.map((m) => m.id))
      }
    }),
  )
  const all = got.flat()
  assert.equal(new Set(all).size, all.length, 'no message was handed to two senders')
  assert.equal(all.length, 2000 - 30, 'every message except the dead sender\'s claims was handed out')
  for (const m of dead) assert.ok(!all.includes(m.id), `message ${m.id} was claimed twice within the timeout`)
  assert.ok(got.every((g) => g.length > 0), `every sender got work: ${got.map((g) => g.length).join(', ')}`)
  // After the timeout (here 200 ms), the dead sender's claims are handed out again, once.
  await new Promise((r) => setTimeout(r, 250))
  const again = await Promise.all([0, 1, 2, 3].map((w) => claimQueuedMessages(workerDb(w), 25, { claimTimeoutMs: 200 })))
  const reclaimed = again.flat().map((m) => m.id)
  // Every claim has lapsed by now; the oldest (the dead sender's) come first.
  assert.equal(reclaimed.length, 100)
  assert.equal(new Set(reclaimed).size, reclaimed.length)
  const deadIds = new Set(dead.map((m) => m.id))
  assert.equal(reclaimed.filter((r) => deadIds.has(r)).length, 30, 'the dead sender\'s 30 messages are claimable again')
  // The phone comes with the claim, ready to send.
  assert.match(dead[0]!.phone!, /^\+2015\d{8}$/)
})

test('concurrent fan-outs of one campaign never double-send: the API\'s, and bare inserts that skip its lock', { timeout: 60_000 }, async () => {
  const id = await campaign(['news'])
  const results = await Promise.all([0, 1, 2, 3].map((w) => fanOutCampaign(workerDb(w), id)))
  assert.deepEqual(results.map((r) => r.inserted).sort((a, b) => b - a), [500, 0, 0, 0])
  assert.ok(results.every((r) => r.totalRecipients === 500))
  // The unique (campaign_id, subscriber_id) rule holds even for writers that skip the
  // campaign lock: 4 sessions run the fan-out INSERT itself at once.
  const bare = await campaign(['storm'])
  const inserted = await Promise.all(
    workers.slice(0, 4).map(async (p) => ((await p.query(fanOutStatements.insertAny.text, [bare, ['storm'], []])).rows[0] as { n: number }).n),
  )
  assert.equal(inserted.reduce((a, b) => a + b, 0), 2000, `inserted per session: ${inserted.join(', ')}`)
  const [dup] = await query<{ n: number; d: number }>(db.url, 'SELECT count(*)::int AS n, count(DISTINCT subscriber_id)::int AS d FROM messages WHERE campaign_id = $1', [bare])
  assert.deepEqual(dup, { n: 2000, d: 2000 })
  assert.deepEqual(await performance(bare), await counted(bare))
})

const STATUSES: DeliveryStatus[] = ['SENT', 'DELIVERED', 'READ', 'FAILED']

/** Deterministic pseudo-random stream (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

test('counters stay exact after a concurrent webhook storm (single and batched, repeats, out of order, unknown ids) with folds running', { timeout: 90_000 }, async () => {
  const ids = [await campaign(['storm']), await campaign(['storm']), await campaign(['news'])]
  for (const id of ids) await fanOutCampaign(workerDb(0), id)
  // Every message sent, with a WhatsApp id; a few stay queued.
  await query(db.url, `UPDATE messages SET status = 'sent', sent_at = now(), whatsapp_message_id = 'wamid.storm.' || id WHERE campaign_id = ANY($1) AND id % 50 <> 0`, [ids])
  const wamids = (await query<{ w: string }>(db.url, `SELECT whatsapp_message_id AS w FROM messages WHERE campaign_id = ANY($1) AND whatsapp_message_id IS NOT NULL`, [ids])).map((r) => r.w)
  const t0 = Date.now()
  let folding = true
  const folds = (async () => {
    let n = 0
    while (folding) {
      await foldCampaignCounters(workerDb(7))
      n++
    }
    return n
  })()
  // 6 workers, 1000 statuses each: half one by one, half in batches of 100 (with repeats of an id inside a batch).
  await Promise.all(
    [0, 1, 2, 3, 4, 5].map(async (w) => {
      const rnd = random(w + 1)
      const pick = () => ({
        waMessageId: rnd() < 0.02 ? `wamid.unknown.${w}` : wamids[Math.floor(rnd() * wamids.length)]!,
        status: STATUSES[Math.min(3, Math.floor(rnd() * 3.3))]!,
        at: new Date(t0 + Math.floor(rnd() * 60_000)),
      })
      for (let i = 0; i < 500; i++) {
        const s = pick()
        await recordDeliveryStatus(workerDb(w), s.waMessageId, s.status, s.at, s.status === 'FAILED' ? { code: '131026' } : undefined)
      }
      for (let b = 0; b < 5; b++) {
        const batch = Array.from({ length: 100 }, pick).map((s) => (s.status === 'FAILED' ? { ...s, error: { code: '131049' } } : s))
        batch.push({ ...batch[0]!, status: 'READ', error: undefined }) // the same id twice in one batch
        const results = await recordDeliveryStatuses(workerDb(w), batch)
        assert.equal(results.length, batch.length)
      }
    }),
  )
  folding = false
  assert.ok((await folds) > 0)
  for (const id of ids) assert.deepEqual(await performance(id), await counted(id), `campaign ${id}`)
  // And after a final fold, the campaign row alone holds them.
  await foldCampaignCounters(workerDb(0))
  for (const id of ids) {
    const [row] = await query<{ total: number; sent: number; delivered: number; read: number; failed: number }>(
      db.url, 'SELECT total_recipients AS total, sent_count AS sent, delivered_count AS delivered, read_count AS read, failed_count AS failed FROM campaigns WHERE id = $1', [id])
    assert.deepEqual(row, await counted(id), `campaign ${id} after the fold`)
  }
})

test('recordDeliveryStatuses gives the same outcomes and rows as recordDeliveryStatus applied one by one', { timeout: 60_000 }, async () => {
  // Two identical campaigns A and B; the same status sequence goes to A one by one and to B as one batch.
  const [a, b] = [await campaign(['news']), await campaign(['news'])]
  for (const id of [a, b]) await fanOutCampaign(workerDb(0), id)
  await query(
    db.url,
    `UPDATE messages SET status = 'sent', sent_at = timestamptz '2026-01-01', whatsapp_message_id = 'wamid.' || campaign_id || '.' || subscriber_id
      WHERE campaign_id = ANY($1) AND subscriber_id % 40 <> 0`,
    [[a, b]],
  )
  const subs = (await query<{ s: number }>(db.url, 'SELECT subscriber_id AS s FROM messages WHERE campaign_id = $1 ORDER BY 1 LIMIT 60', [a])).map((r) => r.s)
  const rnd = random(42)
  const seq = Array.from({ length: 400 }, (_, i) => {
    const s = subs[Math.floor(rnd() * subs.length)]!
    const status = STATUSES[Math.floor(rnd() * 4)]!
    return { s, status, at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)), error: status === 'FAILED' ? { code: String(131000 + i), reason: `r${i}` } : undefined }
  })
  seq.push({ s: 999_999, status: 'READ', at: new Date(Date.UTC(2026, 0, 2)), error: undefined })
  const single = []
  for (const x of seq) single.push(await recordDeliveryStatus(workerDb(0), `wamid.${a}.${x.s}`, x.status, x.at, x.error))
  const batched = await recordDeliveryStatuses(workerDb(1), seq.map((x) => ({ waMessageId: `wamid.${b}.${x.s}`, status: x.status, at: x.at, error: x.error })))
  assert.deepEqual(batched, single)
  assert.deepEqual(single.at(-1), { outcome: 'not_found', status: null })
  const state = (id: number) =>
    query(db.url, `SELECT subscriber_id, status::text, sent_at, delivered_at, read_at, failed_at, error_code, error_reason FROM messages WHERE campaign_id = $1 ORDER BY subscriber_id`, [id])
  assert.deepEqual(await state(b), await state(a))
  assert.deepEqual(await performance(b), await counted(b))
  // The Prisma path runs the same statement.
  const viaPrisma = await recordDeliveryStatuses(prisma, [{ waMessageId: `wamid.${b}.${subs[0]}`, status: 'READ', at: new Date(Date.UTC(2026, 0, 3)) }])
  assert.equal(viaPrisma.length, 1)
  await assert.rejects(recordDeliveryStatuses(workerDb(0), [{ waMessageId: '', status: 'READ', at: new Date() }]), /item 0: WhatsApp message id `` is empty/)
  await assert.rejects(recordDeliveryStatuses(workerDb(0), [{ waMessageId: 'w', status: 'QUEUED' as DeliveryStatus, at: new Date() }]), /item 0: status `QUEUED` is not a delivery status/)
  assert.deepEqual(await recordDeliveryStatuses(workerDb(0), []), [])
})

// ---------------------------------------------------------------------------
// Coalescing: concurrent api.recordDeliveryStatus calls share batch statements

test('8 concurrent callers through createApi: the outcomes and rows of one-by-one calls, in far fewer statements; counters exact', { timeout: 90_000 }, async () => {
  // Two identical campaigns: A gets each caller's statuses one by one without coalescing,
  // B the same statuses from 8 concurrent callers through the coalescing api. Each caller
  // owns its messages (subscriber_id % 8), so the order per message is the caller's.
  const [a, b] = [await campaign(['news']), await campaign(['news'])]
  for (const id of [a, b]) await fanOutCampaign(workerDb(0), id)
  await query(db.url, `UPDATE messages SET status = 'sent', sent_at = timestamptz '2026-01-01', whatsapp_message_id = 'wamid.c.' || campaign_id || '.' || subscriber_id WHERE campaign_id = ANY($1)`, [[a, b]])
  const subs = (await query<{ s: number }>(db.url, 'SELECT subscriber_id AS s FROM messages WHERE campaign_id = $1 ORDER BY 1', [a])).map((r) => r.s)
  const plans = Array.from({ length: 8 }, (_, w) => {
    const mine = subs.filter((s) => s % 8 === w)
    const rnd = random(100 + w)
    return Array.from({ length: 120 }, (_, i) => {
      const status = STATUSES[Math.floor(rnd() * 4)]!
      return { s: rnd() < 0.03 ? 999_000 + w : mine[Math.floor(rnd() * mine.length)]!, status, at: new Date(Date.UTC(2026, 0, 1, 0, w, i)), error: status === 'FAILED' ? { code: '131026', reason: `w${w}` } : undefined }
    })
  })
  const direct = createApi({ prisma, pool: workers[0]! }, { coalesce: false })
  const expected: DeliveryResult[][] = []
  for (const plan of plans) {
    const out = []
    for (const x of plan) out.push(await direct.recordDeliveryStatus(`wamid.c.${a}.${x.s}`, x.status, x.at, x.error))
    expected.push(out)
  }
  assert.equal(direct.coalescerStats(), null)
  const apiPool = new pg.Pool({ connectionString: db.url, max: 2 })
  const api = createApi({ prisma, pool: apiPool })
  try {
    const got = await Promise.all(plans.map(async (plan) => {
      const out = []
      for (const x of plan) out.push(await api.recordDeliveryStatus(`wamid.c.${b}.${x.s}`, x.status, x.at, x.error))
      return out
    }))
    assert.deepEqual(got, expected, 'each caller got the results of its own calls')
    const stats = api.coalescerStats()!
    assert.equal(stats.calls, 8 * 120)
    assert.equal(stats.fallbacks, 0)
    assert.ok(stats.batches <= stats.calls / 3, `coalesced: ${stats.calls} calls in ${stats.batches} statements (largest ${stats.largestBatch})`)
    assert.ok(stats.largestBatch >= 4 && stats.largestBatch <= 8, `largest batch ${stats.largestBatch}: at most one item per caller waiting`)
  } finally {
    await apiPool.end()
  }
  const state = (id: number) => query(db.url, `SELECT subscriber_id, status::text, sent_at, delivered_at, read_at, failed_at, error_code, error_reason FROM messages WHERE campaign_id = $1 ORDER BY subscriber_id`, [id])
  assert.deepEqual(await state(b), await state(a))
  assert.deepEqual(await performance(b), await counted(b))
  assert.deepEqual(await performance(a), await counted(a))
})

test('coalesced calls: bad input fails only its caller; a statement error fails only its item (the batch is retried item by item)', { timeout: 60_000 }, async () => {
  const id = await campaign(['news'])
  await fanOutCampaign(workerDb(0), id)
  await query(db.url, `UPDATE messages SET status = 'sent', sent_at = now(), whatsapp_message_id = 'wamid.p.' || subscriber_id WHERE campaign_id = $1`, [id])
  const [poison, ...others] = (await query<{ w: string }>(db.url, 'SELECT whatsapp_message_id AS w FROM messages WHERE campaign_id = $1 ORDER BY id LIMIT 40', [id])).map((r) => r.w)
  // A real statement error for one message: a trigger of this test's database rejects its update.
  await query(db.url, `CREATE FUNCTION test_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'poisoned message %', NEW.id; END $$;
    CREATE TRIGGER test_poison BEFORE UPDATE ON messages FOR EACH ROW WHEN (NEW.whatsapp_message_id = '${poison}') EXECUTE FUNCTION test_poison()`)
  const pool = new pg.Pool({ connectionString: db.url, max: 2 })
  try {
    const api = createApi({ prisma, pool })
    const at = new Date()
    const calls = [
      api.recordDeliveryStatus(poison!, 'DELIVERED', at),
      api.recordDeliveryStatus('', 'DELIVERED', at),
      api.recordDeliveryStatus('wamid.nobody', 'READ', at),
      ...others.map((w) => api.recordDeliveryStatus(w, 'DELIVERED', at)),
    ]
    const settled = await Promise.allSettled(calls)
    const [p, bad, unknown, ...rest] = settled
    assert.equal(p!.status, 'rejected')
    assert.match(String((p as PromiseRejectedResult).reason), /poisoned message/)
    assert.equal(bad!.status, 'rejected')
    assert.ok((bad as PromiseRejectedResult).reason instanceof ApiInputError)
    assert.deepEqual((unknown as PromiseFulfilledResult<DeliveryResult>).value, { outcome: 'not_found', status: null })
    assert.deepEqual(rest.map((r) => (r as PromiseFulfilledResult<DeliveryResult>).value), others.map(() => ({ outcome: 'updated', status: 'DELIVERED' })))
    const stats = api.coalescerStats()!
    assert.ok(stats.fallbacks >= 1, 'the failed batch was applied item by item')
    assert.equal(stats.calls, calls.length - 1, 'the bad input never joined a batch')
  } finally {
    await pool.end()
    await query(db.url, 'DROP TRIGGER test_poison ON messages; DROP FUNCTION test_poison()')
  }
  const [row] = await query<{ status: string }>(db.url, 'SELECT status::text FROM messages WHERE whatsapp_message_id = $1', [poison])
  assert.equal(row!.status, 'sent', 'the poisoned message is unchanged')
  assert.equal((await query(db.url, `SELECT 1 FROM messages WHERE campaign_id = $1 AND status = 'delivered'`, [id])).length, others.length)
  assert.deepEqual(await performance(id), await counted(id))
})
