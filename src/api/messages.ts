// Message hot paths: delivery webhooks and one subscriber's history.
import type { MessageDirection, MessageStatus, MessageType } from '../generated/prisma/enums.ts'
import { ApiInputError, type ApiDb, type Executor, executorFor, fromDbEnum, type Statement, toBigInt, toDbEnum } from './executor.ts'

/** The statuses a WhatsApp delivery webhook reports. */
export type DeliveryStatus = Extract<MessageStatus, 'SENT' | 'DELIVERED' | 'READ' | 'FAILED'>

export interface DeliveryError {
  code?: string | null
  reason?: string | null
}

export interface DeliveryResult {
  /**
   * updated: the status or a timestamp changed; ignored: the message is past this status
   * (a late or repeated webhook); not_found: no message has this WhatsApp id (yet).
   */
  outcome: 'updated' | 'ignored' | 'not_found'
  /** The message's status after the call (null when not_found). */
  status: MessageStatus | null
}

// One statement: one primary-key lookup in message_whatsapp_ids (010), then the message by
// id, which prunes messages to the one partition that holds it. Rules:
//  - queued < sent < delivered < read: the status only moves forward (enum order);
//    a late `delivered` after `read` only fills delivered_at if it was missing;
//  - failed is accepted from queued or sent, never after delivered/read;
//    a failed message stays failed;
//  - a repeated webhook changes nothing (no row rewrite, no trigger, updated_at kept).
// Campaign counters follow through the messages trigger of 008, in the same statement.
// `prev` reads the status before the update, only to tell `ignored` from `not_found`.
export const recordDeliveryStatement: Statement = {
  name: 'watify_record_delivery_v2',
  text: `
WITH prev AS (
  SELECT m.id, m.status FROM message_whatsapp_ids w JOIN messages m ON m.id = w.message_id
   WHERE w.whatsapp_message_id = $1::varchar
), upd AS (
  UPDATE messages m SET
    status = CASE WHEN $2::message_status = 'failed' OR $2::message_status > m.status THEN $2::message_status ELSE m.status END,
    sent_at = CASE WHEN $2::message_status = 'sent' THEN coalesce(m.sent_at, $3::timestamptz) ELSE m.sent_at END,
    delivered_at = CASE WHEN $2::message_status = 'delivered' THEN coalesce(m.delivered_at, $3::timestamptz) ELSE m.delivered_at END,
    read_at = CASE WHEN $2::message_status = 'read' THEN coalesce(m.read_at, $3::timestamptz) ELSE m.read_at END,
    failed_at = CASE WHEN $2::message_status = 'failed' THEN $3::timestamptz ELSE m.failed_at END,
    error_code = CASE WHEN $2::message_status = 'failed' THEN $4::varchar ELSE m.error_code END,
    error_reason = CASE WHEN $2::message_status = 'failed' THEN $5::text ELSE m.error_reason END
  FROM prev
  WHERE m.id = prev.id
    AND CASE WHEN $2::message_status = 'failed' THEN m.status IN ('queued', 'sent')
             ELSE m.status IN ('queued', 'sent', 'delivered', 'read')
                  AND ($2::message_status > m.status
                       OR (CASE $2::message_status WHEN 'sent' THEN m.sent_at WHEN 'delivered' THEN m.delivered_at ELSE m.read_at END) IS NULL)
        END
  RETURNING m.status
)
SELECT prev.status::text AS previous, upd.status::text AS current FROM prev LEFT JOIN upd ON true`,
}

const DELIVERY_STATUSES = new Set(['SENT', 'DELIVERED', 'READ', 'FAILED'])

/** One status of a batch for {@link recordDeliveryStatuses}. */
export interface DeliveryStatusItem {
  /** WhatsApp's message id (the webhook status object's `id`, `wamid....`). */
  waMessageId: string
  status: DeliveryStatus
  /** The time WhatsApp reports for this status. */
  at: Date
  /** Only with FAILED: WhatsApp's error code and title. */
  error?: DeliveryError
}

type DeliveryParams = [waMessageId: string, status: string, at: Date, code: string | null, reason: string | null]

/** Checks one status and returns the statement's parameters; `where` names the caller in errors. */
export function deliveryParams(where: string, waMessageId: string, status: DeliveryStatus, at: Date, error?: DeliveryError): DeliveryParams {
  if (typeof waMessageId !== 'string' || waMessageId === '' || waMessageId.length > 128) {
    throw new ApiInputError(`${where}: WhatsApp message id \`${String(waMessageId)}\` is empty or longer than 128 characters`, 'Pass the `id` of the webhook\'s status object (wamid....)')
  }
  if (!DELIVERY_STATUSES.has(status)) {
    throw new ApiInputError(`${where}: status \`${String(status)}\` is not a delivery status`, 'Use SENT, DELIVERED, READ or FAILED')
  }
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) {
    throw new ApiInputError(`${where}: \`at\` is not a valid Date`, 'Pass the webhook timestamp as a Date, e.g. new Date(Number(ts) * 1000)')
  }
  if (error && status !== 'FAILED') {
    throw new ApiInputError(`${where}: an error was given with status ${status}`, 'Pass an error only with FAILED')
  }
  const code = status === 'FAILED' ? (error?.code ?? null) : null
  if (code !== null && code.length > 32) {
    throw new ApiInputError(`${where}: error code is longer than 32 characters`, 'Pass WhatsApp\'s numeric error code (e.g. 131047)')
  }
  const reason = status === 'FAILED' ? (error?.reason ?? null) : null
  return [waMessageId, toDbEnum(status), at, code, reason]
}

function toDeliveryResult(row: { previous: string | null; current: string | null } | undefined): DeliveryResult {
  if (!row || row.previous === null) return { outcome: 'not_found', status: null }
  if (row.current === null) return { outcome: 'ignored', status: fromDbEnum<MessageStatus>(row.previous) }
  return { outcome: 'updated', status: fromDbEnum<MessageStatus>(row.current) }
}

/**
 * Applies a delivery webhook to the message with this WhatsApp id. Monotonic: never
 * moves a message back (read stays read when a late `delivered` arrives). `at` is the
 * time WhatsApp reports; `error` is stored only with FAILED.
 */
export async function recordDeliveryStatus(db: ApiDb, waMessageId: string, status: DeliveryStatus, at: Date, error?: DeliveryError): Promise<DeliveryResult> {
  const params = deliveryParams('recordDeliveryStatus', waMessageId, status, at, error)
  const [row] = await executorFor(db).rows<{ previous: string; current: string | null }>(recordDeliveryStatement, params)
  return toDeliveryResult(row)
}

// The batch form of recordDeliveryStatement: the same SET and WHERE, over the rows of the
// input arrays (ord = position in the batch). Messages are locked in id order first, so
// two batches touching the same messages in different orders wait instead of deadlocking.
// Each message may appear once per statement (an UPDATE changes a row once); repeats of an
// id within a batch go to the next statement, in batch order.
export const recordDeliveryBatchStatement: Statement = {
  name: 'watify_record_delivery_batch_v2',
  text: `
WITH input AS (
  SELECT * FROM unnest($1::varchar[], $2::message_status[], $3::timestamptz[], $4::varchar[], $5::text[])
           WITH ORDINALITY AS u(wamid, status, at, code, reason, ord)
), prev AS (
  SELECT i.ord, m.id, m.status FROM input i JOIN message_whatsapp_ids w ON w.whatsapp_message_id = i.wamid
    JOIN messages m ON m.id = w.message_id
   ORDER BY m.id FOR UPDATE OF m
), upd AS (
  UPDATE messages m SET
    status = CASE WHEN i.status = 'failed' OR i.status > m.status THEN i.status ELSE m.status END,
    sent_at = CASE WHEN i.status = 'sent' THEN coalesce(m.sent_at, i.at) ELSE m.sent_at END,
    delivered_at = CASE WHEN i.status = 'delivered' THEN coalesce(m.delivered_at, i.at) ELSE m.delivered_at END,
    read_at = CASE WHEN i.status = 'read' THEN coalesce(m.read_at, i.at) ELSE m.read_at END,
    failed_at = CASE WHEN i.status = 'failed' THEN i.at ELSE m.failed_at END,
    error_code = CASE WHEN i.status = 'failed' THEN i.code ELSE m.error_code END,
    error_reason = CASE WHEN i.status = 'failed' THEN i.reason ELSE m.error_reason END
  FROM prev JOIN input i ON i.ord = prev.ord
  WHERE m.id = prev.id
    AND CASE WHEN i.status = 'failed' THEN m.status IN ('queued', 'sent')
             ELSE m.status IN ('queued', 'sent', 'delivered', 'read')
                  AND (i.status > m.status
                       OR (CASE i.status WHEN 'sent' THEN m.sent_at WHEN 'delivered' THEN m.delivered_at ELSE m.read_at END) IS NULL)
        END
  RETURNING prev.ord, m.status
)
SELECT i.ord::int AS ord, prev.status::text AS previous, upd.status::text AS current
  FROM input i LEFT JOIN prev ON prev.ord = i.ord LEFT JOIN upd ON upd.ord = i.ord
 ORDER BY i.ord`,
}

/** Largest batch recordDeliveryStatuses accepts in one call. */
export const DELIVERY_BATCH_MAX = 5000

/**
 * Applies a batch of delivery webhooks in one statement (one round trip; one more per
 * repeat of a WhatsApp id within the batch), with exactly the rules of
 * {@link recordDeliveryStatus}, as if its items were applied one by one in order.
 * Returns one result per item, in input order (`not_found` for unknown ids). All or
 * nothing: the batch commits in one transaction. At most {@link DELIVERY_BATCH_MAX} items.
 */
export async function recordDeliveryStatuses(db: ApiDb, batch: readonly DeliveryStatusItem[]): Promise<DeliveryResult[]> {
  if (!Array.isArray(batch)) {
    throw new ApiInputError('recordDeliveryStatuses: the batch is not an array', 'Pass an array of { waMessageId, status, at, error? }')
  }
  if (batch.length > DELIVERY_BATCH_MAX) {
    throw new ApiInputError(`recordDeliveryStatuses: ${batch.length} items is more than ${DELIVERY_BATCH_MAX}`, `Split the batch into chunks of at most ${DELIVERY_BATCH_MAX}`)
  }
  const params = batch.map((item, i) => deliveryParams(`recordDeliveryStatuses: item ${i}`, item?.waMessageId, item?.status, item?.at, item?.error))
  if (params.length === 0) return []
  // Rounds: the k-th occurrence of an id goes to round k, so each statement sees every id once.
  const rounds: number[][] = []
  const seen = new Map<string, number>()
  params.forEach(([id], i) => {
    const k = seen.get(id) ?? 0
    seen.set(id, k + 1)
    ;(rounds[k] ??= []).push(i)
  })
  const results: DeliveryResult[] = new Array(params.length)
  const apply = async (ex: Executor, items: number[]) => {
    const cols = [0, 1, 2, 3, 4].map((c) => items.map((i) => params[i]![c]))
    const rows = await ex.rows<{ ord: number; previous: string | null; current: string | null }>(recordDeliveryBatchStatement, cols)
    for (const r of rows) results[items[r.ord - 1]!] = toDeliveryResult(r)
  }
  const ex = executorFor(db)
  if (rounds.length === 1) await apply(ex, rounds[0]!)
  else await ex.transaction(async (tx) => {
    for (const items of rounds) await apply(tx, items)
  })
  return results
}

// ---------------------------------------------------------------------------
// Sending: queued -> sent, with the id WhatsApp returned

export interface MarkSentResult {
  /**
   * updated: the message is now sent with this WhatsApp id; ignored: it was no longer
   * queued (already sent, failed, or inbound), nothing changed; not_found: no such message.
   */
  outcome: 'updated' | 'ignored' | 'not_found'
  /** The message's status after the call (null when not_found). */
  status: MessageStatus | null
}

// The sender's step, before any webhook can find the message: WhatsApp's id is only
// known once the send call returns. Only a queued message moves (a retried or late
// call changes nothing). `taken` refuses an id another message already has, instead
// of letting the unique index fail the statement.
export const markMessageSentStatement: Statement = {
  name: 'watify_mark_message_sent_v2',
  text: `
WITH prev AS (
  SELECT id, status FROM messages WHERE id = $1::bigint
), taken AS (
  SELECT message_id AS id FROM message_whatsapp_ids WHERE whatsapp_message_id = $2::varchar AND message_id <> $1::bigint
), upd AS (
  UPDATE messages m SET status = 'sent', whatsapp_message_id = $2::varchar, sent_at = $3::timestamptz
    FROM prev
   WHERE m.id = prev.id AND m.status = 'queued' AND NOT EXISTS (SELECT 1 FROM taken)
  RETURNING m.status
)
SELECT prev.status::text AS previous, upd.status::text AS current, (SELECT min(id)::text FROM taken) AS taken_by
  FROM prev LEFT JOIN upd ON true`,
}

/**
 * Records that WhatsApp accepted a queued message: status `SENT`, its WhatsApp message
 * id (which delivery webhooks then refer to) and `sent_at`. Only from `QUEUED`.
 */
export async function markMessageSent(db: ApiDb, messageId: bigint | number, waMessageId: string, at: Date): Promise<MarkSentResult> {
  const id = typeof messageId === 'bigint' ? messageId : Number.isSafeInteger(messageId) ? BigInt(messageId) : -1n
  if (id <= 0n || id > 9223372036854775807n) {
    throw new ApiInputError(`markMessageSent: message id \`${String(messageId)}\` is not a positive 64-bit integer`, 'Pass the message id (messages.id)')
  }
  if (typeof waMessageId !== 'string' || waMessageId === '' || waMessageId.length > 128) {
    throw new ApiInputError(`markMessageSent: WhatsApp message id \`${String(waMessageId)}\` is empty or longer than 128 characters`, 'Pass the `messages[0].id` WhatsApp returned for the send (wamid....)')
  }
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) {
    throw new ApiInputError('markMessageSent: `at` is not a valid Date', 'Pass the time WhatsApp accepted the message, e.g. new Date()')
  }
  const [row] = await executorFor(db).rows<{ previous: string; current: string | null; taken_by: string | null }>(markMessageSentStatement, [id.toString(), waMessageId, at])
  if (!row) return { outcome: 'not_found', status: null }
  if (row.taken_by !== null && row.current === null && row.previous === 'queued') {
    throw new ApiInputError(`markMessageSent: WhatsApp message id \`${waMessageId}\` already belongs to message ${row.taken_by}`, 'Pass the id WhatsApp returned for this message; each sent message has its own')
  }
  if (row.current === null) return { outcome: 'ignored', status: fromDbEnum<MessageStatus>(row.previous) }
  return { outcome: 'updated', status: fromDbEnum<MessageStatus>(row.current) }
}

// ---------------------------------------------------------------------------
// Subscriber history

export interface HistoryMessage {
  id: bigint
  campaignId: number | null
  groupId: number | null
  direction: MessageDirection
  type: MessageType
  body: string | null
  mediaUrl: string | null
  status: MessageStatus
  whatsappMessageId: string | null
  errorCode: string | null
  createdAt: Date
  sentAt: Date | null
  deliveredAt: Date | null
  readAt: Date | null
  failedAt: Date | null
}

export interface HistoryPage {
  items: HistoryMessage[]
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null
}

export const HISTORY_MAX_LIMIT = 200

const historyColumns = `id, campaign_id, group_id, direction::text AS direction, type::text AS type, body, media_url,
       status::text AS status, whatsapp_message_id, error_code, created_at, sent_at, delivered_at, read_at, failed_at`

// Served by messages(subscriber_id, created_at DESC, id DESC): an index range scan
// that starts at the cursor and stops after limit + 1 rows, at any depth.
export const historyFirstPage: Statement = {
  name: 'watify_history_first_v1',
  text: `SELECT ${historyColumns} FROM messages WHERE subscriber_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
}
export const historyNextPage: Statement = {
  name: 'watify_history_next_v1',
  text: `SELECT ${historyColumns} FROM messages
 WHERE subscriber_id = $1 AND (created_at, id) < ($3::timestamptz, $4::bigint)
 ORDER BY created_at DESC, id DESC LIMIT $2`,
}

interface HistoryRow {
  id: string | bigint
  campaign_id: number | null
  group_id: number | null
  direction: string
  type: string
  body: string | null
  media_url: string | null
  status: string
  whatsapp_message_id: string | null
  error_code: string | null
  created_at: Date
  sent_at: Date | null
  delivered_at: Date | null
  read_at: Date | null
  failed_at: Date | null
}

function toHistoryMessage(r: HistoryRow): HistoryMessage {
  return {
    id: toBigInt(r.id),
    campaignId: r.campaign_id,
    groupId: r.group_id,
    direction: fromDbEnum<MessageDirection>(r.direction),
    type: fromDbEnum<MessageType>(r.type),
    body: r.body,
    mediaUrl: r.media_url,
    status: fromDbEnum<MessageStatus>(r.status),
    whatsappMessageId: r.whatsapp_message_id,
    errorCode: r.error_code,
    createdAt: r.created_at,
    sentAt: r.sent_at,
    deliveredAt: r.delivered_at,
    readAt: r.read_at,
    failedAt: r.failed_at,
  }
}

/** Opaque keyset cursor: the (created_at, id) of the last message of a page. */
export function encodeHistoryCursor(m: { createdAt: Date; id: bigint }): string {
  return Buffer.from(`${m.createdAt.toISOString()}|${m.id}`).toString('base64url')
}

export function decodeHistoryCursor(cursor: string): { createdAt: Date; id: bigint } {
  const text = Buffer.from(cursor, 'base64url').toString()
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\|(\d{1,19})$/.exec(text)
  const createdAt = m ? new Date(m[1]!) : null
  if (!m || !createdAt || Number.isNaN(createdAt.getTime())) {
    throw new ApiInputError(`subscriberHistory: cursor \`${cursor}\` is not one this API returned`, 'Pass the `nextCursor` of the previous page, or no cursor for the newest page')
  }
  return { createdAt, id: BigInt(m[2]!) }
}

/** One subscriber's messages, newest first, `limit` (default 50, at most 200) per page. */
export async function subscriberHistory(db: ApiDb, subscriberId: number, opts: { limit?: number; cursor?: string | null } = {}): Promise<HistoryPage> {
  if (!Number.isInteger(subscriberId) || subscriberId <= 0 || subscriberId > 2147483647) {
    throw new ApiInputError(`subscriberHistory: subscriber id \`${subscriberId}\` is not a positive 32-bit integer`, 'Pass the subscriber id (subscribers.id)')
  }
  const limit = opts.limit ?? 50
  if (!Number.isInteger(limit) || limit < 1 || limit > HISTORY_MAX_LIMIT) {
    throw new ApiInputError(`subscriberHistory: limit \`${limit}\` is out of range`, `Pass a limit from 1 to ${HISTORY_MAX_LIMIT}`)
  }
  const ex = executorFor(db)
  // One row more than asked tells whether another page exists, without a count.
  const rows = opts.cursor
    ? await (() => {
        const c = decodeHistoryCursor(opts.cursor)
        return ex.read<HistoryRow>(historyNextPage, [subscriberId, limit + 1, c.createdAt, c.id.toString()])
      })()
    : await ex.read<HistoryRow>(historyFirstPage, [subscriberId, limit + 1])
  const items = rows.slice(0, limit).map(toHistoryMessage)
  const last = items[items.length - 1]
  return { items, nextCursor: rows.length > limit && last ? encodeHistoryCursor(last) : null }
}
