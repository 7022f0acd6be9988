// Plans of c-f (and of the new hot statements): none may scan messages or subscribers sequentially.
import { campaignPerformanceStatement } from '../../src/api/campaigns.ts'
import { historyFirstPage, historyNextPage, recordDeliveryBatchStatement, recordDeliveryStatement } from '../../src/api/messages.ts'
import { claimQueuedStatement } from '../../src/api/queue.ts'
import { type BenchContext, explain } from '../harness.ts'
import { audienceParams, audienceStmt } from './audience.ts'
import { HISTORY_LIMIT, type HistorySubject } from './history.ts'

export async function checkPlans(ctx: BenchContext, webhook: unknown[], subjects: HistorySubject[]): Promise<string[]> {
  ctx.log('\nPlans (EXPLAIN) of c-f and of the batch webhook and the sender claim:')
  const s = subjects.find((x) => x.cursor)!
  const v: string[] = []
  v.push(...(await explain(ctx, 'c. delivery webhook', recordDeliveryStatement.text, webhook)))
  v.push(...(await explain(ctx, 'c. delivery webhooks, batch', recordDeliveryBatchStatement.text, [[webhook[0]], [webhook[1]], [webhook[2]], [null], [null]])))
  v.push(...(await explain(ctx, 'd. campaign performance', campaignPerformanceStatement.text, [1])))
  v.push(...(await explain(ctx, 'e. audience size', audienceStmt.text, audienceParams)))
  v.push(...(await explain(ctx, 'f. history, first page', historyFirstPage.text, [s.id, HISTORY_LIMIT + 1])))
  v.push(...(await explain(ctx, 'f. history, next page', historyNextPage.text, [s.id, HISTORY_LIMIT + 1, s.cursor!.createdAt, s.cursor!.id.toString()])))
  // EXPLAIN only (never run): the claim would take messages.
  v.push(...(await explain(ctx, 'i. sender claim', claimQueuedStatement.text, [100, 300_000])))
  if (v.length) ctx.log(`\n! Sequential scans on big tables:\n${v.map((x) => `  ${x}`).join('\n')}`)
  else ctx.log('\nNo plan scans messages or subscribers sequentially.')
  return v
}
