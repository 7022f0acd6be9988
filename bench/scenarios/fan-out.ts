// b. Campaign fan-out: new campaigns targeting news OR promo (about half of the opted-in).
// Limits: the same statements through pg (raw), and the same INSERT with user triggers off.
import { fanOutStatements } from '../../src/api/campaigns.ts'
import { type BenchContext, median, throughput, withUserTriggersOff } from '../harness.ts'
import { ormFanOut } from '../orm.ts'
import { compare } from '../report.ts'

export async function fanOut(ctx: BenchContext): Promise<void> {
  ctx.log('\nb. campaign fan-out:')
  const newCampaign = async (name: string, tags: string[]) =>
    ((await ctx.rawPool.query(`INSERT INTO campaigns (owner_id, name, body, target_tags) VALUES (1, $1, 'Fan-out bench', $2) RETURNING id`, [name, tags])).rows[0] as { id: number }).id
  const rawFanOut = async (id: number) => {
    const c = await ctx.rawPool.connect()
    try {
      await c.query('BEGIN')
      const lock = (await c.query({ name: 'raw_lock', text: fanOutStatements.lockCampaign.text, values: [id] })).rows[0] as { target_tags: string[]; group_ids: number[] }
      const ins = (await c.query({ name: 'raw_ins', text: fanOutStatements.insertAny.text, values: [id, lock.target_tags, lock.group_ids] })).rows[0] as { n: number }
      await c.query({ name: 'raw_fold', text: fanOutStatements.fold.text, values: [id] })
      await c.query({ name: 'raw_mark', text: fanOutStatements.markRunning.text, values: [id] })
      await c.query('COMMIT')
      return ins.n
    } catch (err) {
      await c.query('ROLLBACK')
      throw err
    } finally {
      c.release()
    }
  }
  const rates: Record<'raw' | 'fast' | 'prisma' | 'off', number[]> = { raw: [], fast: [], prisma: [], off: [] }
  let fanRows = 0
  for (let round = 0; round < 2; round++) {
    rates.raw.push((await throughput(ctx, `raw SQL (round ${round + 1})`, async () => rawFanOut(await newCampaign(`raw ${round}`, ['news', 'promo'])))).rate)
    // The limit of the database rules: the same INSERT with messages' user triggers off
    // (no opt-out check, no counters). Its rows are deleted again with the triggers still off.
    const offId = await newCampaign(`off ${round}`, ['news', 'promo'])
    rates.off.push(
      (
        await withUserTriggersOff(ctx.rawPool, 'messages', async () => {
          const r = await throughput(ctx, `raw SQL, user triggers off (round ${round + 1})`, async () => rawFanOut(offId))
          await ctx.rawPool.query('DELETE FROM messages WHERE campaign_id = $1', [offId])
          return r
        })
      ).rate,
    )
    const f = await throughput(ctx, `API fast path (round ${round + 1})`, async () => (await ctx.fast.fanOutCampaign(await newCampaign(`fast ${round}`, ['news', 'promo']))).inserted)
    rates.fast.push(f.rate)
    fanRows = f.rows
    if (round === 0) rates.prisma.push((await throughput(ctx, 'API via Prisma', async () => (await ctx.viaPrisma.fanOutCampaign(await newCampaign('prisma', ['news', 'promo']))).inserted)).rate)
  }
  // Idempotency: a second fan-out of a campaign inserts nothing.
  const again = await ctx.fast.fanOutCampaign(await newCampaign('again', ['vip']))
  const repeat = await ctx.fast.fanOutCampaign(again.campaignId)
  if (repeat.inserted !== 0) throw new Error(`fan-out is not idempotent: the second run inserted ${repeat.inserted} rows`)
  const ormSmall = await throughput(ctx, 'ORM only (findMany + createMany 5k chunks), vip campaign', async () => ormFanOut(ctx.prisma, await newCampaign('orm', ['vip'])))
  const raw = median(rates.raw)
  const off = median(rates.off)
  const op = 'b. campaign fan-out'
  compare(ctx.rows, { op, path: 'raw SQL, rules on (vs user triggers off)', metric: 'rows/s', value: raw, raw: off, note: `the database rules' cost; ${fanRows} rows, median of 2` }, { atLeast: 0.8 })
  compare(ctx.rows, { op, path: 'API fast path (pg pool)', metric: 'rows/s', value: median(rates.fast), raw, note: `${fanRows} rows per campaign, median of 2` }, { atLeast: 0.8 })
  compare(ctx.rows, { op, path: 'API via Prisma (interactive transaction)', metric: 'rows/s', value: median(rates.prisma), raw, note: `${fanRows} rows, 1 run` }, { atLeast: 0.8 })
  compare(ctx.rows, { op, path: 'ORM only (findMany + createMany)', metric: 'rows/s', value: ormSmall.rate, raw, note: `${ormSmall.rows} rows (vip campaign; the full one would take minutes)` }, { atLeast: 0.8 })
}
