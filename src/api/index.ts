// The typed hot-path API the backend calls. Each function takes the database as
// its first argument (see ApiDb), or bind them once with createApi(db).
// Which path to use for what, with measured numbers: docs/performance.md.
import { rethrowAsWatifyError } from '../domain/errors.ts'
import { checkPhoneRegion } from '../domain/normalize.ts'
import * as campaigns from './campaigns.ts'
import { type CoalesceOptions, type CoalescerStats, createDeliveryCoalescer } from './coalesce.ts'
import type { ApiDb } from './executor.ts'
import * as messages from './messages.ts'
import * as queue from './queue.ts'
import * as subscribers from './subscribers.ts'

export { ApiInputError, type ApiDb } from './executor.ts'
export { type CoalesceOptions, type CoalescerStats, createDeliveryCoalescer, type DeliveryCoalescer } from './coalesce.ts'
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
   * back; FAILED only from queued or sent; repeats change nothing). Concurrent calls are
   * coalesced into recordDeliveryStatuses statements (src/api/coalesce.ts) unless
   * createApi was given `coalesce: false`; each call still gets its own result or error.
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
  /** Counts of the webhook coalescer (calls, batch statements, ...); null with `coalesce: false`. */
  coalescerStats(): CoalescerStats | null
}

export interface ApiOptions {
  /** Coalescing of concurrent recordDeliveryStatus calls (default on, see src/api/coalesce.ts); false: one statement per call. */
  coalesce?: CoalesceOptions | false
  /** Region for national phone numbers in importSubscribers (e.g. `PK`); see src/domain/normalize.ts. */
  defaultPhoneRegion?: string
}

/** Every rule violation as a typed domain error (src/domain/errors.ts), whichever path raised it. */
function typed<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return (...args) => fn(...args).catch(rethrowAsWatifyError)
}

/**
 * The API bound to one database. Pass `{ prisma, pool }` (the pg.Pool the client's
 * PrismaPg adapter was built on) for the fast path, or the PrismaClient alone.
 */
export function createApi(db: ApiDb, options: ApiOptions = {}): WatifyApi {
  const region = checkPhoneRegion(options.defaultPhoneRegion)
  const coalescer = options.coalesce === false ? null : createDeliveryCoalescer(db, options.coalesce)
  return {
    importSubscribers: typed((rows, opts) => subscribers.importSubscribers(db, rows, { defaultPhoneRegion: region, ...opts })),
    fanOutCampaign: typed((campaignId) => campaigns.fanOutCampaign(db, campaignId)),
    claimQueuedMessages: typed((limit, opts) => queue.claimQueuedMessages(db, limit, opts)),
    markMessageSent: typed((messageId, waMessageId, at) => messages.markMessageSent(db, messageId, waMessageId, at)),
    recordDeliveryStatus: typed((waMessageId, status, at, error) =>
      coalescer ? coalescer.record(waMessageId, status, at, error) : messages.recordDeliveryStatus(db, waMessageId, status, at, error),
    ),
    recordDeliveryStatuses: typed((batch) => messages.recordDeliveryStatuses(db, batch)),
    campaignPerformance: typed((campaignId) => campaigns.campaignPerformance(db, campaignId)),
    foldCampaignCounters: typed((campaignId) => campaigns.foldCampaignCounters(db, campaignId)),
    audienceSize: typed((expr) => subscribers.audienceSize(db, expr)),
    subscriberHistory: typed((subscriberId, opts) => messages.subscriberHistory(db, subscriberId, opts)),
    coalescerStats: () => coalescer?.stats() ?? null,
  }
}
