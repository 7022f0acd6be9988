// The typed hot-path API the backend calls. Each function takes the database as
// its first argument (see ApiDb), or bind them once with createApi(db).
// Which path to use for what, with measured numbers: docs/performance.md.
import * as campaigns from './campaigns.ts'
import type { ApiDb } from './executor.ts'
import * as messages from './messages.ts'
import * as queue from './queue.ts'
import * as subscribers from './subscribers.ts'

export { ApiInputError, type ApiDb } from './executor.ts'
export { type CampaignPerformance, campaignPerformance, type FanOutResult, fanOutCampaign, foldCampaignCounters } from './campaigns.ts'
export {
  decodeHistoryCursor,
  DELIVERY_BATCH_MAX,
  type DeliveryError,
  type DeliveryResult,
  type DeliveryStatus,
  type DeliveryStatusItem,
  encodeHistoryCursor,
  HISTORY_MAX_LIMIT,
  type HistoryMessage,
  type HistoryPage,
  markMessageSent,
  type MarkSentResult,
  recordDeliveryStatus,
  recordDeliveryStatuses,
  subscriberHistory,
} from './messages.ts'
export { CLAIM_MAX_LIMIT, CLAIM_TIMEOUT_MS, claimQueuedMessages, type ClaimedMessage } from './queue.ts'
export { audienceSize, IMPORT_CHUNK_ROWS, type ImportResult, type ImportSubscriberRow, importSubscribers, type TagExpression } from './subscribers.ts'

/** The hot-path API bound to one database (see {@link createApi}). */
export interface WatifyApi {
  /**
   * Inserts or merges subscribers by phone in bulk (tags and attributes merge, consent only
   * moves pending -> opted in), `chunkRows` per statement, all in one transaction.
   */
  importSubscribers(rows: readonly subscribers.ImportSubscriberRow[], opts?: { chunkRows?: number }): Promise<subscribers.ImportResult>
  /**
   * Queues one message for every opted-in subscriber the campaign targets that it has not
   * messaged yet (one per subscriber per campaign, by database rule); idempotent.
   */
  fanOutCampaign(campaignId: number): Promise<campaigns.FanOutResult>
  /**
   * Hands up to `limit` queued messages to this sender (FOR UPDATE SKIP LOCKED): concurrent
   * senders never share one; claims older than `claimTimeoutMs` (default 5 min) are handed out again.
   */
  claimQueuedMessages(limit: number, opts?: { claimTimeoutMs?: number }): Promise<queue.ClaimedMessage[]>
  /** Records that WhatsApp accepted a queued message: SENT, its WhatsApp id and sent_at. */
  markMessageSent(messageId: bigint | number, waMessageId: string, at: Date): Promise<messages.MarkSentResult>
  /**
   * Applies one delivery webhook by WhatsApp id, monotonically (never moves a message
   * back; FAILED only from queued or sent; repeats change nothing).
   */
  recordDeliveryStatus(waMessageId: string, status: messages.DeliveryStatus, at: Date, error?: messages.DeliveryError): Promise<messages.DeliveryResult>
  /**
   * Applies a batch of delivery webhooks in one round trip with the rules of
   * recordDeliveryStatus, in order; one result per item (`not_found` for unknown ids).
   */
  recordDeliveryStatuses(batch: readonly messages.DeliveryStatusItem[]): Promise<messages.DeliveryResult[]>
  /** The dashboard's counters of one campaign, exact as of the last commit; null if no such campaign. */
  campaignPerformance(campaignId: number): Promise<campaigns.CampaignPerformance | null>
  /**
   * Folds the campaign counter shards into the campaigns columns (one campaign, or all);
   * for a periodic job, exactness does not depend on it. Returns the campaigns changed.
   */
  foldCampaignCounters(campaignId?: number): Promise<number>
  /** Number of opted-in subscribers matching a tag expression (all / any / none). */
  audienceSize(expr: subscribers.TagExpression): Promise<number>
  /** One subscriber's messages newest first, keyset-paginated (`nextCursor`). */
  subscriberHistory(subscriberId: number, opts?: { limit?: number; cursor?: string | null }): Promise<messages.HistoryPage>
}

/**
 * The API bound to one database. Pass `{ prisma, pool }` (the pg.Pool the client's
 * PrismaPg adapter was built on) for the fast path, or the PrismaClient alone.
 */
export function createApi(db: ApiDb): WatifyApi {
  return {
    importSubscribers: (rows, opts) => subscribers.importSubscribers(db, rows, opts),
    fanOutCampaign: (campaignId) => campaigns.fanOutCampaign(db, campaignId),
    claimQueuedMessages: (limit, opts) => queue.claimQueuedMessages(db, limit, opts),
    markMessageSent: (messageId, waMessageId, at) => messages.markMessageSent(db, messageId, waMessageId, at),
    recordDeliveryStatus: (waMessageId, status, at, error) => messages.recordDeliveryStatus(db, waMessageId, status, at, error),
    recordDeliveryStatuses: (batch) => messages.recordDeliveryStatuses(db, batch),
    campaignPerformance: (campaignId) => campaigns.campaignPerformance(db, campaignId),
    foldCampaignCounters: (campaignId) => campaigns.foldCampaignCounters(db, campaignId),
    audienceSize: (expr) => subscribers.audienceSize(db, expr),
    subscriberHistory: (subscriberId, opts) => messages.subscriberHistory(db, subscriberId, opts),
  }
}
