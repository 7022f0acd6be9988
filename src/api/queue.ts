// The sender's queue: hand queued messages to senders, each message to one sender.
import type { MessageType } from '../generated/prisma/enums.ts'
import { ApiInputError, type ApiDb, executorFor, fromDbEnum, type Statement, toBigInt } from './executor.ts'

/** A queued message handed to one sender by {@link claimQueuedMessages}. */
export interface ClaimedMessage {
  id: bigint
  campaignId: number | null
  subscriberId: number | null
  /** The subscriber's phone (E.164), null for a message without a subscriber (e.g. to a group). */
  phone: string | null
  groupId: number | null
  type: MessageType
  body: string | null
  mediaUrl: string | null
  mediaMimeType: string | null
  /** Template name/language/params and other structured content. */
  payload: unknown
  /** When this claim was made; it lapses `claimTimeoutMs` later. */
  claimedAt: Date
}

/** Claims a sender that died leaves behind become claimable again after this long (default). */
export const CLAIM_TIMEOUT_MS = 5 * 60_000
export const CLAIM_MAX_LIMIT = 1000

// Served by messages_queue_idx (009), in index order: never-claimed messages first (oldest
// id first), then lapsed claims. SKIP LOCKED: concurrent senders each take rows the others
// have not locked, without waiting; the claim (claimed_at = now()) commits with the
// statement, so a later claim sees it and skips it until it lapses.
export const claimQueuedStatement: Statement = {
  name: 'watify_claim_queued_v1',
  text: `
WITH picked AS (
  SELECT id FROM messages
   WHERE whatsapp_message_id IS NULL AND failed_at IS NULL AND status = 'queued'
     AND (claimed_at IS NULL OR claimed_at < now() - $2::int * interval '1 millisecond')
   ORDER BY claimed_at NULLS FIRST, id
   LIMIT $1
     FOR UPDATE SKIP LOCKED
), claimed AS (
  UPDATE messages m SET claimed_at = now() FROM picked WHERE m.id = picked.id
  RETURNING m.id, m.campaign_id, m.subscriber_id, m.group_id, m.type::text AS type, m.body, m.media_url, m.media_mime_type, m.payload, m.claimed_at
)
SELECT c.*, s.phone FROM claimed c LEFT JOIN subscribers s ON s.id = c.subscriber_id ORDER BY c.id`,
}

interface ClaimRow {
  id: string | bigint
  campaign_id: number | null
  subscriber_id: number | null
  group_id: number | null
  type: string
  body: string | null
  media_url: string | null
  media_mime_type: string | null
  payload: unknown
  claimed_at: Date
  phone: string | null
}

/**
 * Hands up to `limit` queued messages to the calling sender, marking them claimed. Concurrent
 * senders never get the same message; a claim older than `claimTimeoutMs` (default 5 min:
 * the sender died) is handed out again. The sender then calls markMessageSent (or
 * recordDeliveryStatus FAILED) for each; a late markMessageSent on a message another
 * sender already sent is `ignored`.
 */
export async function claimQueuedMessages(db: ApiDb, limit: number, opts: { claimTimeoutMs?: number } = {}): Promise<ClaimedMessage[]> {
  if (!Number.isInteger(limit) || limit < 1 || limit > CLAIM_MAX_LIMIT) {
    throw new ApiInputError(`claimQueuedMessages: limit \`${limit}\` is out of range`, `Pass a limit from 1 to ${CLAIM_MAX_LIMIT}`)
  }
  const timeout = opts.claimTimeoutMs ?? CLAIM_TIMEOUT_MS
  if (!Number.isInteger(timeout) || timeout < 0 || timeout > 2147483647) {
    throw new ApiInputError(`claimQueuedMessages: claimTimeoutMs \`${timeout}\` is out of range`, 'Pass the milliseconds after which a claim lapses (e.g. 300000), as a whole number')
  }
  const rows = await executorFor(db).rows<ClaimRow>(claimQueuedStatement, [limit, timeout])
  return rows.map((r) => ({
    id: toBigInt(r.id),
    campaignId: r.campaign_id,
    subscriberId: r.subscriber_id,
    phone: r.phone,
    groupId: r.group_id,
    type: fromDbEnum<MessageType>(r.type),
    body: r.body,
    mediaUrl: r.media_url,
    mediaMimeType: r.media_mime_type,
    payload: r.payload,
    claimedAt: r.claimed_at,
  }))
}
