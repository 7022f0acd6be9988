// The backend's hot paths, written once against the schema so that the indexes they need
// (named in prisma/schema.prisma and migration 007) are the ones they use.
// Each takes the client (or a transaction client) as its first argument.
//
// Bulk writes go through one SQL statement per chunk (INSERT ... SELECT FROM unnest), not
// through createMany: see /work/shared/design/embedded-postgres.md ("Bulk writes").
import { Prisma, type PrismaClient } from './generated/prisma/client.ts'
import type { MessageStatus, TagMatch } from './generated/prisma/enums.ts'

type Db = PrismaClient | Prisma.TransactionClient

/** The E.164 rule of subscribers_phone_e164_check, for validating before touching the database. */
export const E164 = /^\+[1-9][0-9]{7,14}$/

export interface SubscriberImportRow {
  phone: string
  name?: string | null
  tags?: readonly string[]
  /** Consent collected elsewhere (the import records it as method `import`). */
  optedIn?: boolean
  optedInAt?: Date
}

export interface ImportResult {
  inserted: number
  updated: number
}

/** Thrown before anything is written when some rows are invalid. */
export class ImportValidationError extends Error {
  constructor(readonly problems: Array<{ row: number; phone: string; problem: string }>) {
    const shown = problems.slice(0, 5).map((p) => `row ${p.row}: \`${p.phone}\` ${p.problem}`).join('; ')
    const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''
    super(`${problems.length} invalid row(s), nothing was imported: ${shown}${more}. Fix or remove these rows and import again.`)
    this.name = 'ImportValidationError'
  }
}

/**
 * Bulk subscriber import: inserts new phones, and for known phones adds the tags, fills a
 * missing name and records a new opt-in, all in one transaction.
 * An opted-out subscriber stays opted out: an import never overrides a withdrawal of consent.
 */
export async function importSubscribers(db: PrismaClient, rows: readonly SubscriberImportRow[], opts: { chunkSize?: number } = {}): Promise<ImportResult> {
  const problems: Array<{ row: number; phone: string; problem: string }> = []
  // One row per phone (the last wins, tags merged): one INSERT cannot touch a row twice.
  const byPhone = new Map<string, { name: string | null; tags: Set<string>; optedInAt: Date | null }>()
  rows.forEach((r, i) => {
    if (!E164.test(r.phone)) problems.push({ row: i + 1, phone: r.phone, problem: 'is not E.164 (+ then 8-15 digits, e.g. +14155550123)' })
    const badTag = (r.tags ?? []).find((t) => t.trim() === '')
    if (badTag !== undefined) problems.push({ row: i + 1, phone: r.phone, problem: 'has an empty tag' })
    const prev = byPhone.get(r.phone)
    const tags = new Set([...(prev?.tags ?? []), ...(r.tags ?? [])])
    const optedInAt = r.optedIn ? (r.optedInAt ?? new Date()) : (prev?.optedInAt ?? null)
    byPhone.set(r.phone, { name: r.name ?? prev?.name ?? null, tags, optedInAt })
  })
  if (problems.length > 0) throw new ImportValidationError(problems)

  const entries = [...byPhone.entries()]
  const chunkSize = opts.chunkSize ?? 10_000
  const result: ImportResult = { inserted: 0, updated: 0 }
  await db.$transaction(
    async (tx) => {
      for (let i = 0; i < entries.length; i += chunkSize) {
        const chunk = entries.slice(i, i + chunkSize)
        const phones = chunk.map(([p]) => p)
        const names = chunk.map(([, v]) => v.name)
        // text[][] cannot be ragged, so each row's tags travel as one JSON array text.
        const tags = chunk.map(([, v]) => JSON.stringify([...v.tags]))
        const optedInAt = chunk.map(([, v]) => v.optedInAt?.toISOString() ?? null)
        const [counts] = await tx.$queryRaw<Array<{ inserted: bigint; total: bigint }>>`
          WITH input AS (
            SELECT u.phone, u.name,
                   ARRAY(SELECT jsonb_array_elements_text(u.tags::jsonb)) AS tags,
                   u.opted_in_at::timestamptz AS opted_in_at
              FROM unnest(${phones}::text[], ${names}::text[], ${tags}::text[], ${optedInAt}::text[])
                   AS u(phone, name, tags, opted_in_at)
          ), upserted AS (
            INSERT INTO subscribers (phone, name, tags, opt_status, opted_in_at, opt_in_method)
            SELECT phone, name, tags,
                   CASE WHEN opted_in_at IS NULL THEN 'pending' ELSE 'opted_in' END::opt_status,
                   opted_in_at,
                   CASE WHEN opted_in_at IS NULL THEN NULL ELSE 'import' END::consent_method
              FROM input
            ON CONFLICT (phone) DO UPDATE SET
              name = coalesce(subscribers.name, EXCLUDED.name),
              tags = ARRAY(SELECT DISTINCT t FROM unnest(subscribers.tags || EXCLUDED.tags) AS t ORDER BY t),
              opt_status = CASE WHEN subscribers.opt_status = 'pending' AND EXCLUDED.opt_status = 'opted_in'
                                THEN 'opted_in'::opt_status ELSE subscribers.opt_status END,
              opted_in_at = CASE WHEN subscribers.opt_status = 'pending' AND EXCLUDED.opt_status = 'opted_in'
                                 THEN EXCLUDED.opted_in_at ELSE subscribers.opted_in_at END,
              opt_in_method = CASE WHEN subscribers.opt_status = 'pending' AND EXCLUDED.opt_status = 'opted_in'
                                   THEN EXCLUDED.opt_in_method ELSE subscribers.opt_in_method END
            RETURNING (xmax = 0) AS inserted
          )
          SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) AS total FROM upserted`
        result.inserted += Number(counts!.inserted)
        result.updated += Number(counts!.total - counts!.inserted)
      }
    },
    { timeout: 10 * 60_000, maxWait: 30_000 },
  )
  return result
}

/**
 * The SQL condition selecting a campaign's audience among `subscribers s`: opted in, and
 * matching its tags (&& for ANY, @> for ALL) or a member of one of its groups. A campaign
 * with neither tags nor groups targets every opted-in subscriber.
 * `opt_status = 'opted_in'` is a literal on purpose: only then can the planner use the
 * partial index subscribers_opted_in_tags_idx (a parameter would not prove its predicate).
 */
function audienceCondition(campaignId: number): Prisma.Sql {
  return Prisma.sql`
    s.opt_status = 'opted_in'
    AND (
      (c.target_tags = '{}' AND NOT EXISTS (SELECT 1 FROM campaign_groups cg WHERE cg.campaign_id = c.id))
      OR (c.target_tags <> '{}' AND c.target_tag_match = 'any' AND s.tags && c.target_tags)
      OR (c.target_tags <> '{}' AND c.target_tag_match = 'all' AND s.tags @> c.target_tags)
      OR EXISTS (SELECT 1 FROM group_members gm JOIN campaign_groups cg ON cg.group_id = gm.group_id
                  WHERE cg.campaign_id = c.id AND gm.subscriber_id = s.id)
    )
    AND c.id = ${campaignId}`
}

/** Audience size for a tag expression (dashboard, while composing a campaign). */
export async function audienceSize(db: Db, tags: readonly string[], match: TagMatch = 'ANY'): Promise<number> {
  const list = [...tags]
  const rows =
    match === 'ALL'
      ? await db.$queryRaw<Array<{ n: bigint }>>`SELECT count(*) AS n FROM subscribers WHERE opt_status = 'opted_in' AND tags @> ${list}::text[]`
      : await db.$queryRaw<Array<{ n: bigint }>>`SELECT count(*) AS n FROM subscribers WHERE opt_status = 'opted_in' AND tags && ${list}::text[]`
  return Number(rows[0]!.n)
}

export class CampaignStateError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'CampaignStateError'
  }
}

/**
 * Campaign fan-out: one queued outbound message per audience member, in one INSERT ... SELECT,
 * and the campaign marked running. Safe to run again (subscribers who already have a
 * message in this campaign are skipped). Returns the number of messages created.
 */
export async function fanOutCampaign(db: PrismaClient, campaignId: number): Promise<number> {
  return db.$transaction(
    async (tx) => {
      // Row lock: two fan-outs of one campaign would otherwise both insert.
      const [campaign] = await tx.$queryRaw<Array<{ status: string }>>`SELECT status::text FROM campaigns WHERE id = ${campaignId} FOR UPDATE`
      if (!campaign) throw new CampaignStateError(`Campaign ${campaignId} does not exist.`)
      if (!['draft', 'scheduled', 'running'].includes(campaign.status)) {
        throw new CampaignStateError(`Campaign ${campaignId} is ${campaign.status}; only draft, scheduled or running campaigns can be fanned out.`)
      }
      await tx.$executeRaw`
        UPDATE campaigns SET status = 'running', started_at = coalesce(started_at, now())
         WHERE id = ${campaignId} AND status <> 'running'`
      return tx.$executeRaw`
        INSERT INTO messages (subscriber_id, campaign_id, direction, type, body, media_url, media_mime_type, payload)
        SELECT s.id, c.id, 'outbound', c.message_type, c.body, c.media_url, c.media_mime_type,
               CASE WHEN c.template_name IS NULL THEN NULL
                    ELSE jsonb_build_object('template', c.template_name, 'language', c.template_language, 'params', c.template_params) END
          FROM campaigns c
          JOIN subscribers s ON ${audienceCondition(campaignId)}
         WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.campaign_id = c.id AND m.subscriber_id = s.id)
         ORDER BY s.id`
    },
    { timeout: 10 * 60_000, maxWait: 30_000 },
  )
}

/** The sender's step: WhatsApp accepted a queued message and gave it an id. */
export async function markMessageSent(db: Db, messageId: bigint, whatsappMessageId: string, at = new Date()): Promise<boolean> {
  const { count } = await db.message.updateMany({
    where: { id: messageId, status: 'QUEUED' },
    data: { status: 'SENT', whatsappMessageId, sentAt: at },
  })
  return count === 1
}

const PROGRESSION: Record<'SENT' | 'DELIVERED' | 'READ', MessageStatus[]> = {
  SENT: ['QUEUED'],
  DELIVERED: ['QUEUED', 'SENT'],
  READ: ['QUEUED', 'SENT', 'DELIVERED'],
}

/**
 * Delivery webhook: moves the message with WhatsApp id `whatsappMessageId` forward to `status`.
 * Webhooks arrive out of order and repeat; a status never moves backwards (a late `delivered`
 * after `read` changes nothing). Returns whether a row changed.
 */
export async function applyDeliveryStatus(
  db: Db,
  whatsappMessageId: string,
  update: { status: 'SENT' | 'DELIVERED' | 'READ'; at: Date } | { status: 'FAILED'; at: Date; errorCode: string; errorReason?: string },
): Promise<boolean> {
  if (update.status === 'FAILED') {
    const { count } = await db.message.updateMany({
      where: { whatsappMessageId, status: { in: ['QUEUED', 'SENT', 'DELIVERED'] } },
      data: { status: 'FAILED', failedAt: update.at, errorCode: update.errorCode, errorReason: update.errorReason ?? null },
    })
    return count === 1
  }
  const at = update.at
  const stamp = update.status === 'SENT' ? { sentAt: at } : update.status === 'DELIVERED' ? { deliveredAt: at } : { readAt: at }
  const { count } = await db.message.updateMany({
    where: { whatsappMessageId, status: { in: PROGRESSION[update.status] } },
    data: { status: update.status, ...stamp },
  })
  return count === 1
}

export interface CampaignPerformance {
  status: string
  totalRecipients: number
  sent: number
  delivered: number
  read: number
  failed: number
  queued: number
  /** delivered / sent, read / delivered (0 when the denominator is 0). */
  deliveryRate: number
  readRate: number
  startedAt: Date | null
  completedAt: Date | null
}

/** Dashboard: one campaign's performance, read from the trigger-maintained counters (one row). */
export async function campaignPerformance(db: Db, campaignId: number): Promise<CampaignPerformance> {
  const c = await db.campaign.findUniqueOrThrow({
    where: { id: campaignId },
    select: { status: true, totalRecipients: true, sentCount: true, deliveredCount: true, readCount: true, failedCount: true, startedAt: true, completedAt: true },
  })
  return {
    status: c.status,
    totalRecipients: c.totalRecipients,
    sent: c.sentCount,
    delivered: c.deliveredCount,
    read: c.readCount,
    failed: c.failedCount,
    queued: c.totalRecipients - c.sentCount - c.failedCount,
    deliveryRate: c.sentCount === 0 ? 0 : c.deliveredCount / c.sentCount,
    readRate: c.deliveredCount === 0 ? 0 : c.readCount / c.deliveredCount,
    startedAt: c.startedAt,
    completedAt: c.completedAt,
  }
}

export interface HistoryCursor {
  createdAt: Date
  id: bigint
}

/**
 * One subscriber's messages, newest first, keyset-paginated on (created_at, id): pass the last
 * row of a page as `before` to get the next. Served by messages_subscriber_id_created_at_id_idx;
 * the redundant `created_at <= cursor` bound lets the index scan start at the cursor.
 */
export async function subscriberHistory(db: Db, subscriberId: number, opts: { limit?: number; before?: HistoryCursor } = {}) {
  const { before } = opts
  return db.message.findMany({
    where: {
      subscriberId,
      ...(before
        ? { createdAt: { lte: before.createdAt }, OR: [{ createdAt: { lt: before.createdAt } }, { createdAt: before.createdAt, id: { lt: before.id } }] }
        : {}),
    },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: opts.limit ?? 50,
  })
}
