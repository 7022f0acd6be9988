// The typed hot-path API the backend calls. Each function takes the database as
// its first argument (see ApiDb), or bind them once with createApi(db).
// Which path to use for what, with measured numbers: docs/performance.md.
import { type CampaignPerformance, campaignPerformance, type FanOutResult, fanOutCampaign } from './campaigns.ts'
import type { ApiDb } from './executor.ts'
import { type DeliveryError, type DeliveryResult, type DeliveryStatus, type HistoryPage, markMessageSent, type MarkSentResult, recordDeliveryStatus, subscriberHistory } from './messages.ts'
import { audienceSize, type ImportResult, type ImportSubscriberRow, importSubscribers, type TagExpression } from './subscribers.ts'

export { ApiInputError, type ApiDb } from './executor.ts'
export { type CampaignPerformance, campaignPerformance, type FanOutResult, fanOutCampaign } from './campaigns.ts'
export {
  decodeHistoryCursor,
  type DeliveryError,
  type DeliveryResult,
  type DeliveryStatus,
  encodeHistoryCursor,
  HISTORY_MAX_LIMIT,
  type HistoryMessage,
  type HistoryPage,
  markMessageSent,
  type MarkSentResult,
  recordDeliveryStatus,
  subscriberHistory,
} from './messages.ts'
export { audienceSize, IMPORT_CHUNK_ROWS, type ImportResult, type ImportSubscriberRow, importSubscribers, type TagExpression } from './subscribers.ts'

export interface WatifyApi {
  importSubscribers(rows: readonly ImportSubscriberRow[], opts?: { chunkRows?: number }): Promise<ImportResult>
  fanOutCampaign(campaignId: number): Promise<FanOutResult>
  markMessageSent(messageId: bigint | number, waMessageId: string, at: Date): Promise<MarkSentResult>
  recordDeliveryStatus(waMessageId: string, status: DeliveryStatus, at: Date, error?: DeliveryError): Promise<DeliveryResult>
  campaignPerformance(campaignId: number): Promise<CampaignPerformance | null>
  audienceSize(expr: TagExpression): Promise<number>
  subscriberHistory(subscriberId: number, opts?: { limit?: number; cursor?: string | null }): Promise<HistoryPage>
}

/**
 * The API bound to one database. Pass `{ prisma, pool }` (the pg.Pool the client's
 * PrismaPg adapter was built on) for the fast path, or the PrismaClient alone.
 */
export function createApi(db: ApiDb): WatifyApi {
  return {
    importSubscribers: (rows, opts) => importSubscribers(db, rows, opts),
    fanOutCampaign: (campaignId) => fanOutCampaign(db, campaignId),
    markMessageSent: (messageId, waMessageId, at) => markMessageSent(db, messageId, waMessageId, at),
    recordDeliveryStatus: (waMessageId, status, at, error) => recordDeliveryStatus(db, waMessageId, status, at, error),
    campaignPerformance: (campaignId) => campaignPerformance(db, campaignId),
    audienceSize: (expr) => audienceSize(db, expr),
    subscriberHistory: (subscriberId, opts) => subscriberHistory(db, subscriberId, opts),
  }
}
