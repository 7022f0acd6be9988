// Campaign hot paths: fan-out and the dashboard's performance figures.
import type { CampaignStatus } from '../generated/prisma/enums.ts'
import { ApiInputError, type ApiDb, executorFor, fromDbEnum, type Statement } from './executor.ts'

export interface FanOutResult {
  campaignId: number
  /** Message rows this call created (0 when run again with no new matching subscribers). */
  inserted: number
  /** The campaign's message count afterwards (counted by the messages trigger of 008). */
  totalRecipients: number
  status: CampaignStatus
}

// Locks the campaign row for the rest of the transaction: a second fan-out of the
// same campaign waits here, then (READ COMMITTED: a new statement, a new snapshot)
// sees the first one's messages and skips those subscribers.
const lockCampaign: Statement = {
  name: 'watify_fan_out_lock_v1',
  text: `
SELECT c.status::text AS status, c.message_type::text AS message_type, c.body, c.template_name, c.media_url,
       c.target_tags, c.target_tag_match::text AS target_tag_match,
       coalesce((SELECT array_agg(cg.group_id) FROM campaign_groups cg WHERE cg.campaign_id = c.id), '{}') AS group_ids
  FROM campaigns c
 WHERE c.id = $1
   FOR NO KEY UPDATE`,
}

// Targeting: opted-in subscribers whose tags match (any: &&, all: @>), plus opted-in
// members of the target groups; each subscriber once. Two statements (any/all) so
// the partial GIN index on opted-in subscribers' tags (007) serves the tag branch.
// One message per subscriber per campaign is campaign_recipients' primary key (010; a
// partitioned unique index would have to include id): the fan-out claims the
// (campaign, subscriber) rows first, with the new messages' ids, ON CONFLICT DO NOTHING,
// and inserts a message for each row it claimed; already-messaged subscribers are skipped
// before an id is drawn. Even a fan-out that bypasses the campaign lock cannot double-send.
function fanOutInsert(match: 'any' | 'all'): Statement {
  return {
    name: `watify_fan_out_insert_${match}_v3`,
    text: `
WITH targets AS (
  SELECT s.id FROM subscribers s
   WHERE s.opt_status = 'opted_in' AND cardinality($2::text[]) > 0 AND s.tags ${match === 'all' ? '@>' : '&&'} $2::text[]
  UNION
  SELECT gm.subscriber_id FROM group_members gm JOIN subscribers s ON s.id = gm.subscriber_id
   WHERE gm.group_id = ANY ($3::int[]) AND s.opt_status = 'opted_in'
), claimed AS (
  INSERT INTO campaign_recipients (campaign_id, subscriber_id, message_id)
  SELECT $1, t.id, nextval(pg_get_serial_sequence('messages', 'id'))
    FROM targets t
   WHERE NOT EXISTS (SELECT 1 FROM campaign_recipients r WHERE r.campaign_id = $1 AND r.subscriber_id = t.id)
   ORDER BY t.id
  ON CONFLICT DO NOTHING
  RETURNING subscriber_id, message_id
), inserted AS (
  INSERT INTO messages (id, subscriber_id, campaign_id, direction, type, body, media_url, media_mime_type, payload, status)
  SELECT k.message_id, k.subscriber_id, c.id, 'outbound', c.message_type, c.body, c.media_url, c.media_mime_type,
         CASE WHEN c.template_name IS NOT NULL THEN
           jsonb_build_object('template', jsonb_build_object('name', c.template_name, 'language', c.template_language, 'params', c.template_params))
         END,
         'queued'
    FROM claimed k
    JOIN campaigns c ON c.id = $1
   ORDER BY k.message_id
  RETURNING 1
)
SELECT count(*)::int AS n FROM inserted`,
  }
}
const fanOutInsertAny = fanOutInsert('any')
const fanOutInsertAll = fanOutInsert('all')

// The campaign's counter shards are folded into its row after the insert (the fan-out
// holds the row lock anyway), so total_recipients is exact in the row afterwards.
const foldCampaign: Statement = {
  name: 'watify_fold_campaign_counters_v1',
  text: 'SELECT campaign_counters_fold($1::int) AS campaigns',
}

// A draft or scheduled campaign becomes running when its messages are queued.
const markRunning: Statement = {
  name: 'watify_fan_out_mark_running_v1',
  text: `
UPDATE campaigns
   SET status = CASE WHEN status IN ('draft', 'scheduled') THEN 'running'::campaign_status ELSE status END,
       started_at = coalesce(started_at, now())
 WHERE id = $1
RETURNING status::text AS status, total_recipients`,
}

/** The fan-out's statements, for the benchmark's raw-SQL baseline (same SQL straight through pg). */
export const fanOutStatements = { lockCampaign, insertAny: fanOutInsertAny, insertAll: fanOutInsertAll, fold: foldCampaign, markRunning } as const

const FINISHED = new Set(['completed', 'cancelled', 'failed'])

/**
 * Queues one outbound message for every opted-in subscriber the campaign targets
 * (tags and/or groups) that it has not messaged yet. Idempotent: running it again
 * inserts only for subscribers who started matching since; one message per subscriber
 * per campaign is a database rule, so concurrent runs cannot double-send. The counters
 * follow through the messages trigger and are folded into the campaign row; a
 * draft/scheduled campaign becomes running.
 */
export async function fanOutCampaign(db: ApiDb, campaignId: number): Promise<FanOutResult> {
  if (!Number.isInteger(campaignId) || campaignId <= 0) {
    throw new ApiInputError(`fanOutCampaign: campaign id \`${campaignId}\` is not a positive integer`, 'Pass the campaign id (campaigns.id)')
  }
  return executorFor(db).transaction(async (ex) => {
    const [c] = await ex.rows<{
      status: string
      message_type: string
      body: string | null
      template_name: string | null
      media_url: string | null
      target_tags: string[]
      target_tag_match: 'any' | 'all'
      group_ids: number[]
    }>(lockCampaign, [campaignId])
    if (!c) throw new ApiInputError(`fanOutCampaign: campaign ${campaignId} does not exist`, 'Create the campaign first, then fan it out')
    if (FINISHED.has(c.status)) {
      throw new ApiInputError(`fanOutCampaign: campaign ${campaignId} is ${c.status}`, 'Only draft, scheduled, running or paused campaigns can be fanned out')
    }
    if (c.body == null && c.template_name == null && c.media_url == null) {
      throw new ApiInputError(`fanOutCampaign: campaign ${campaignId} has no content`, 'Set its body, template_name or media_url first')
    }
    if (c.message_type === 'text' && c.body == null) {
      throw new ApiInputError(`fanOutCampaign: campaign ${campaignId} is a text campaign without a body`, 'Set its body, or set message_type to the kind of content it has (e.g. template)')
    }
    const tags = c.target_tags
    if (tags.length === 0 && c.group_ids.length === 0) {
      throw new ApiInputError(`fanOutCampaign: campaign ${campaignId} has no targeting`, 'Set target_tags or add campaign_groups; a campaign never goes to everyone by default')
    }
    const [ins] = await ex.rows<{ n: number }>(c.target_tag_match === 'all' ? fanOutInsertAll : fanOutInsertAny, [campaignId, tags, c.group_ids])
    await ex.rows(foldCampaign, [campaignId])
    const [after] = await ex.rows<{ status: string; total_recipients: number }>(markRunning, [campaignId])
    return { campaignId, inserted: ins!.n, totalRecipients: after!.total_recipients, status: fromDbEnum<CampaignStatus>(after!.status) }
  })
}

// ---------------------------------------------------------------------------
// Campaign performance

export interface CampaignPerformance {
  campaignId: number
  name: string
  status: CampaignStatus
  /** Messages the fan-out created. */
  total: number
  /** Still waiting to be sent: total - sent - failed. */
  queued: number
  /** Reached WhatsApp: sent, delivered or read. */
  sent: number
  /** Reached the phone: delivered or read. */
  delivered: number
  read: number
  failed: number
  /** delivered / sent, read / delivered, failed / total; 0 when the divisor is 0. */
  deliveryRate: number
  readRate: number
  failureRate: number
  startedAt: Date | null
  completedAt: Date | null
}

// Counters, not an aggregate over the campaign's messages: the campaign row (counts as of
// the last fold) plus its at most 16 counter shards (changes since), both index lookups,
// so constant time at any campaign size and exact at every commit (008).
export const campaignPerformanceStatement: Statement = {
  name: 'watify_campaign_performance_v2',
  text: `
SELECT c.id, c.name, c.status::text AS status,
       c.total_recipients + coalesce(s.total, 0) AS total_recipients,
       c.sent_count + coalesce(s.sent, 0) AS sent_count,
       c.delivered_count + coalesce(s.delivered, 0) AS delivered_count,
       c.read_count + coalesce(s.read, 0) AS read_count,
       c.failed_count + coalesce(s.failed, 0) AS failed_count,
       c.started_at, c.completed_at
  FROM campaigns c
  LEFT JOIN LATERAL (
    SELECT sum(total)::int AS total, sum(sent)::int AS sent, sum(delivered)::int AS delivered,
           sum(read)::int AS read, sum(failed)::int AS failed
      FROM campaign_counter_shards WHERE campaign_id = c.id
  ) s ON true
 WHERE c.id = $1`,
}

export interface CampaignCountersRow {
  id: number
  name: string
  status: string
  total_recipients: number
  sent_count: number
  delivered_count: number
  read_count: number
  failed_count: number
  started_at: Date | null
  completed_at: Date | null
}

const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b)

export function toCampaignPerformance(r: CampaignCountersRow): CampaignPerformance {
  return {
    campaignId: r.id,
    name: r.name,
    status: fromDbEnum<CampaignStatus>(r.status),
    total: r.total_recipients,
    queued: r.total_recipients - r.sent_count - r.failed_count,
    sent: r.sent_count,
    delivered: r.delivered_count,
    read: r.read_count,
    failed: r.failed_count,
    deliveryRate: ratio(r.delivered_count, r.sent_count),
    readRate: ratio(r.read_count, r.delivered_count),
    failureRate: ratio(r.failed_count, r.total_recipients),
    startedAt: r.started_at,
    completedAt: r.completed_at,
  }
}

/**
 * The dashboard's figures for one campaign, or null if there is no such campaign. Exact:
 * equal to counting the campaign's messages by status, as of the last commit.
 */
export async function campaignPerformance(db: ApiDb, campaignId: number): Promise<CampaignPerformance | null> {
  if (!Number.isInteger(campaignId) || campaignId <= 0 || campaignId > 2147483647) {
    throw new ApiInputError(`campaignPerformance: campaign id \`${campaignId}\` is not a positive 32-bit integer`, 'Pass the campaign id (campaigns.id)')
  }
  const [row] = await executorFor(db).read<CampaignCountersRow>(campaignPerformanceStatement, [campaignId])
  return row ? toCampaignPerformance(row) : null
}

/**
 * Folds the campaign counter shards (changes since the last fold) into the campaigns
 * counter columns: of one campaign, or of all when `campaignId` is omitted. Exactness
 * never depends on it (campaignPerformance adds the shards); run it from a periodic job
 * so the shard table stays small. Returns how many campaigns changed.
 */
export async function foldCampaignCounters(db: ApiDb, campaignId?: number): Promise<number> {
  if (campaignId !== undefined && (!Number.isInteger(campaignId) || campaignId <= 0 || campaignId > 2147483647)) {
    throw new ApiInputError(`foldCampaignCounters: campaign id \`${campaignId}\` is not a positive 32-bit integer`, 'Pass the campaign id (campaigns.id), or nothing to fold every campaign')
  }
  const [row] = await executorFor(db).rows<{ campaigns: number }>(foldCampaign, [campaignId ?? null])
  return row!.campaigns
}
