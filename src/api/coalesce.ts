// Delivery webhooks that batch themselves: concurrent recordDeliveryStatus calls in one
// process share recordDeliveryStatuses statements (src/api/messages.ts, unchanged).
//
// How (natural batching, no timer): a call joins the queue; if fewer than `maxInFlight`
// batches are running, the queue is sent at the next turn of the event loop (setImmediate,
// so calls made in the same turn go together); otherwise it is sent as soon as a running
// batch returns, up to `maxBatch` items per statement. So:
//  - a lone call waits one event-loop turn (microseconds) more than a direct call;
//  - under load, a call waits at most for the batch already running ahead of it (plus its
//    own): the added latency is bounded by one batch's round trip, and the more callers,
//    the bigger (cheaper per item) the batches, never longer waits;
//  - each caller gets its own result (the batch returns one per item, in order);
//  - bad input is refused for that caller alone, before joining the queue; if a batch
//    statement fails, its items are applied one by one, so one failing item only fails its
//    own call (and the others still get their results);
//  - counters stay exact: the batch statement fires the same counter triggers (008).
import { toWatifyError } from '../domain/errors.ts'
import type { ApiDb } from './executor.ts'
import { type DeliveryError, type DeliveryResult, type DeliveryStatus, type DeliveryStatusItem, deliveryParams, DELIVERY_BATCH_MAX, recordDeliveryStatus, recordDeliveryStatuses } from './messages.ts'

export interface CoalesceOptions {
  /** Most statuses per statement (default 500: the batch size measured fastest in docs/performance.md). */
  maxBatch?: number
  /** Batch statements running at once (default 2): one collects while the other runs. */
  maxInFlight?: number
}

export interface CoalescerStats {
  /** Calls recorded. */
  calls: number
  /** Batch statements sent (recordDeliveryStatuses calls). */
  batches: number
  /** Batches that failed and were applied item by item. */
  fallbacks: number
  /** Largest batch sent. */
  largestBatch: number
}

interface Pending {
  item: DeliveryStatusItem
  resolve: (r: DeliveryResult) => void
  reject: (err: unknown) => void
}

export interface DeliveryCoalescer {
  record(waMessageId: string, status: DeliveryStatus, at: Date, error?: DeliveryError): Promise<DeliveryResult>
  stats(): CoalescerStats
}

export function createDeliveryCoalescer(db: ApiDb, opts: CoalesceOptions = {}): DeliveryCoalescer {
  const maxBatch = opts.maxBatch ?? 500
  const maxInFlight = opts.maxInFlight ?? 2
  if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > DELIVERY_BATCH_MAX) throw new RangeError(`coalesce.maxBatch must be a whole number from 1 to ${DELIVERY_BATCH_MAX}, got ${maxBatch}`)
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new RangeError(`coalesce.maxInFlight must be a whole number of at least 1, got ${maxInFlight}`)
  const stats: CoalescerStats = { calls: 0, batches: 0, fallbacks: 0, largestBatch: 0 }
  let queue: Pending[] = []
  let inFlight = 0
  let scheduled = false

  const schedule = () => {
    if (scheduled || queue.length === 0 || inFlight >= maxInFlight) return
    scheduled = true
    setImmediate(flush)
  }

  function flush() {
    scheduled = false
    while (queue.length > 0 && inFlight < maxInFlight) {
      const batch = queue.slice(0, maxBatch)
      queue = queue.slice(batch.length)
      inFlight++
      stats.batches++
      stats.largestBatch = Math.max(stats.largestBatch, batch.length)
      void send(batch).finally(() => {
        inFlight--
        schedule()
      })
    }
  }

  async function send(batch: Pending[]) {
    try {
      const results = await recordDeliveryStatuses(db, batch.map((p) => p.item))
      batch.forEach((p, i) => p.resolve(results[i]!))
    } catch {
      // One item's failure must not fail the others: apply them one by one, in order.
      stats.fallbacks++
      for (const p of batch) {
        try {
          p.resolve(await recordDeliveryStatus(db, p.item.waMessageId, p.item.status, p.item.at, p.item.error))
        } catch (err) {
          p.reject(toWatifyError(err))
        }
      }
    }
  }

  return {
    record(waMessageId, status, at, error) {
      try {
        // Checked here, for this caller alone; the batch checks again (cheap).
        deliveryParams('recordDeliveryStatus', waMessageId, status, at, error)
      } catch (err) {
        return Promise.reject(err)
      }
      stats.calls++
      return new Promise<DeliveryResult>((resolve, reject) => {
        queue.push({ item: error === undefined ? { waMessageId, status, at } : { waMessageId, status, at, error }, resolve, reject })
        schedule()
      })
    },
    stats: () => ({ ...stats }),
  }
}
