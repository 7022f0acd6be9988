// The concurrent load a transaction pooler must survive: `workers` concurrent
// callers sharing one client, each calling api.recordDeliveryStatus,
// api.campaignPerformance and prisma.subscriber.count in turn, `calls` calls in
// all. Shared by `npm run bench:pooler` and test/pooler.test.ts.
import type pg from 'pg'

import type { WatifyApi } from '../src/api/index.ts'
import type { PrismaClient } from '../src/generated/prisma/client.ts'

export interface LoadTargets {
  /** WhatsApp ids of `sent` messages; call k of the webhook kind marks the k-th one delivered. */
  sentIds: string[]
  campaignIds: number[]
}

export interface LoadResult {
  calls: number
  ok: number
  failed: number
  /** Error message (statement names kept, numbers stripped) -> count. */
  failures: Record<string, number>
  ms: number
  /** WhatsApp ids the webhook calls were made for (to check the database afterwards). */
  deliveredIds: string[]
}

/** `sent` messages and campaigns of a database built by bench/dataset.ts, enough for `calls` calls. */
export async function loadTargets(pool: pg.Pool, calls: number): Promise<LoadTargets> {
  const need = Math.ceil(calls / 3)
  const sentIds = (await pool.query<{ w: string }>(`SELECT whatsapp_message_id AS w FROM messages WHERE status = 'sent' ORDER BY id LIMIT $1`, [need])).rows.map((r) => r.w)
  if (sentIds.length < need) throw new Error(`the dataset has ${sentIds.length} sent messages; ${need} are needed`)
  const campaignIds = (await pool.query<{ id: number }>('SELECT id FROM campaigns ORDER BY id')).rows.map((r) => r.id)
  return { sentIds, campaignIds }
}

export async function runPoolerLoad(db: { api: WatifyApi; prisma: PrismaClient }, targets: LoadTargets, opts: { workers: number; calls: number }): Promise<LoadResult> {
  const failures: Record<string, number> = {}
  const deliveredIds: string[] = []
  let next = 0
  let ok = 0
  let failed = 0
  const at = new Date()
  const one = async (k: number): Promise<void> => {
    const kind = k % 3
    const n = Math.floor(k / 3)
    if (kind === 0) {
      const id = targets.sentIds[n]!
      deliveredIds.push(id)
      await db.api.recordDeliveryStatus(id, 'DELIVERED', at)
    } else if (kind === 1) await db.api.campaignPerformance(targets.campaignIds[n % targets.campaignIds.length]!)
    else await db.prisma.subscriber.count()
  }
  const worker = async (): Promise<void> => {
    for (let k = next++; k < opts.calls; k = next++) {
      try {
        await one(k)
        ok++
      } catch (err) {
        failed++
        const key = String((err as Error).message).split(':')[0]!.replace(/\d+/g, 'N')
        failures[key] = (failures[key] ?? 0) + 1
      }
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: opts.workers }, worker))
  return { calls: opts.calls, ok, failed, failures, ms: performance.now() - t0, deliveredIds }
}
