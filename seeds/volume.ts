// Volume data: the one generator behind `npm run seed -- --subscribers=N --messages=N`
// and the benchmark's dataset (bench/dataset.ts). Set-based SQL (generate_series,
// hashint4), never row loops: 200k subscribers and 1M messages take about a minute on
// 2 cores. Deterministic and idempotent: row i is always the same row (phone and
// WhatsApp id derive from i), and a second run inserts nothing (the unique rules' lookup tables are checked first).

import type pg from 'pg'

/** A pg Pool or client. */
export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.ClientBase, 'query'>

/** Volume subscribers have phones `+2010` + 8 digits (subscriber i: `+2010` + i zero-padded). */
export const VOLUME_PHONE_PREFIX = '+2010'
export const VOLUME_MAX_SUBSCRIBERS = 99_999_999

// Pseudo-random percentile 0..99 of row i for an independent stream `seed`.
const pct = (i: string, seed: number) => `(abs(hashint4(${i} * 7 + ${seed})) % 100)`

/**
 * Subscribers 1..count. Tags drawn independently: vip 5%, news 40%, promo 30%, churned 10%,
 * a city (cairo, alex, giza) and a language (ar 60%, en). Consent: 5% opted out, 10%
 * pending, 85% opted in. Returns the number of new rows.
 */
export async function insertVolumeSubscribers(db: Queryable, count: number, progress: (line: string) => void, chunk = 50_000): Promise<number> {
  if (!Number.isInteger(count) || count < 0 || count > VOLUME_MAX_SUBSCRIBERS) {
    throw new Error(`--subscribers must be a whole number from 0 to ${VOLUME_MAX_SUBSCRIBERS} (the generated phone numbers have 8 digits), got ${count}`)
  }
  let inserted = 0
  for (let from = 1; from <= count; from += chunk) {
    const to = Math.min(count, from + chunk - 1)
    // messages is partitioned by id (010) without a default partition: room for this chunk
    // first (partitions are 1,000,000 ids wide unless made otherwise).
    await db.query('SELECT count(*) FROM messages_create_partitions($1)', [2 + Math.ceil(chunk / 1_000_000)])
    const r = await db.query(
      `INSERT INTO subscribers (phone, name, tags, attributes, opt_status, opted_in_at, opt_in_method, opted_out_at, opt_out_method, created_at)
       SELECT '${VOLUME_PHONE_PREFIX}' || lpad(i::text, 8, '0'),
              'Subscriber ' || i,
              array_remove(ARRAY[
                CASE WHEN ${pct('i', 1)} < 5 THEN 'vip' END,
                CASE WHEN ${pct('i', 2)} < 40 THEN 'news' END,
                CASE WHEN ${pct('i', 3)} < 30 THEN 'promo' END,
                CASE WHEN ${pct('i', 4)} < 10 THEN 'churned' END,
                (ARRAY['cairo', 'alex', 'giza'])[i % 3 + 1],
                CASE WHEN ${pct('i', 5)} < 60 THEN 'ar' ELSE 'en' END], NULL),
              jsonb_build_object('first_name', 'S' || i),
              CASE WHEN ${pct('i', 6)} < 5 THEN 'opted_out' WHEN ${pct('i', 6)} < 15 THEN 'pending' ELSE 'opted_in' END::opt_status,
              CASE WHEN ${pct('i', 6)} >= 15 OR ${pct('i', 6)} < 5 THEN timestamptz '2025-01-01' + i * interval '100 ms' END,
              CASE WHEN ${pct('i', 6)} >= 15 OR ${pct('i', 6)} < 5 THEN 'import'::consent_method END,
              CASE WHEN ${pct('i', 6)} < 5 THEN timestamptz '2026-01-01' + i * interval '100 ms' END,
              CASE WHEN ${pct('i', 6)} < 5 THEN 'whatsapp_keyword'::consent_method END,
              timestamptz '2025-01-01' + i * interval '100 ms'
         FROM generate_series($1::int, $2::int) i
       ON CONFLICT (phone) DO NOTHING`,
      [from, to],
    )
    inserted += r.rowCount ?? 0
    progress(`Subscribers: ${to}/${count}`)
  }
  return inserted
}

/**
 * Messages 1..count over the opted-in volume subscribers: every 10th inbound (received), the
 * rest outbound across `campaignIds` (the opt-out trigger rejects anything else), each
 * subscriber at most once per campaign. Outbound statuses: 15% queued, 5% failed, 20% sent,
 * 30% delivered, 30% read. Returns the number of new rows.
 */
export async function insertVolumeMessages(db: Queryable, campaignIds: readonly number[], count: number, progress: (line: string) => void, chunk = 50_000): Promise<number> {
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM subscribers WHERE phone LIKE '${VOLUME_PHONE_PREFIX}%' AND opt_status = 'opted_in'`)
  const opted = (rows[0] as { n: number }).n
  if (count > 0 && opted === 0) throw new Error('--messages needs volume subscribers: add --subscribers=N (e.g. --subscribers=200000)')
  const perCampaign = Math.ceil((count - Math.floor(count / 10)) / Math.max(1, campaignIds.length))
  if (perCampaign > opted) {
    throw new Error(`--messages=${count} needs ${perCampaign} opted-in subscribers per campaign (${campaignIds.length} campaigns, one message each), there are ${opted}; raise --subscribers`)
  }
  let inserted = 0
  for (let from = 1; from <= count; from += chunk) {
    const to = Math.min(count, from + chunk - 1)
    // messages is partitioned by id (010) without a default partition: room for this chunk
    // first (partitions are 1,000,000 ids wide unless made otherwise).
    await db.query('SELECT count(*) FROM messages_create_partitions($1)', [2 + Math.ceil(chunk / 1_000_000)])
    const r = await db.query(
      `WITH subs AS MATERIALIZED (
         -- one array of ids, indexed by position: no join for the planner to get wrong
         SELECT array_agg(id ORDER BY id) AS ids, count(*)::int AS n
           FROM subscribers WHERE phone LIKE '${VOLUME_PHONE_PREFIX}%' AND opt_status = 'opted_in'
       ), gen AS (
         SELECT i, i - i / 10 - 1 AS o, ${pct('i', 11)} AS r, timestamptz '2025-01-01' + i * interval '2 seconds' AS t,
                i % 10 = 0 AS inbound
           FROM generate_series($1::int, $2::int) i
       ), x AS MATERIALIZED (
         -- materialized: the anti-joins below sort x, and inlined it would carry the whole ids array per row
         SELECT g.*, CASE WHEN g.inbound THEN NULL ELSE ($3::int[])[g.o % cardinality($3::int[]) + 1] END AS campaign_id,
                s.ids[CASE WHEN g.inbound THEN (g.i * 31) % s.n
                           ELSE (g.o / cardinality($3::int[]) + (g.o % cardinality($3::int[])) * 7919) % s.n END + 1] AS subscriber_id,
                CASE WHEN g.inbound THEN 'received' WHEN r < 15 THEN 'queued' WHEN r < 20 THEN 'failed' WHEN r < 40 THEN 'sent'
                     WHEN r < 70 THEN 'delivered' ELSE 'read' END AS st
           FROM gen g CROSS JOIN subs s
       )
       INSERT INTO messages (subscriber_id, campaign_id, direction, type, body, whatsapp_message_id, status, error_code, error_reason,
                             created_at, sent_at, delivered_at, read_at, failed_at)
       SELECT subscriber_id, campaign_id, CASE WHEN inbound THEN 'inbound' ELSE 'outbound' END::message_direction, 'text',
              CASE WHEN inbound THEN 'Thanks! ' || i ELSE 'Hello from campaign ' || campaign_id END,
              CASE WHEN st = 'queued' THEN NULL ELSE 'wamid.v.' || i END,
              st::message_status,
              CASE WHEN st = 'failed' THEN '131026' END, CASE WHEN st = 'failed' THEN 'Message undeliverable' END,
              t,
              CASE WHEN st IN ('sent', 'delivered', 'read') THEN t + interval '1 s' END,
              CASE WHEN st IN ('delivered', 'read') THEN t + interval '5 s' END,
              CASE WHEN st = 'read' THEN t + interval '60 s' END,
              CASE WHEN st = 'failed' THEN t + interval '2 s' END
         FROM x
       -- both unique rules (a re-run): kept in message_whatsapp_ids and campaign_recipients (010),
       -- which a partitioned table's ON CONFLICT cannot use as arbiters
        WHERE NOT EXISTS (SELECT 1 FROM message_whatsapp_ids w WHERE w.whatsapp_message_id = 'wamid.v.' || x.i)
          AND NOT EXISTS (SELECT 1 FROM campaign_recipients r WHERE r.campaign_id = x.campaign_id AND r.subscriber_id = x.subscriber_id)`,
      [from, to, campaignIds],
    )
    inserted += r.rowCount ?? 0
    progress(`Messages: ${to}/${count}`)
  }
  return inserted
}
