// a. Bulk import of subscribers, last: it grows the subscribers table. Each run imports
// new phones, then deletes them. Also measured: the same import with a second GIN index
// on tags (the full one 009 dropped), to show what that index cost every import.
import type { ImportSubscriberRow } from '../../src/api/index.ts'
import { importSubscribersStatement, packImportColumns } from '../../src/api/subscribers.ts'
import { type BenchContext, median, throughput } from '../harness.ts'
import { ormImport } from '../orm.ts'
import { compare } from '../report.ts'

function importRows(prefix: string, n: number, seed: number): ImportSubscriberRow[] {
  const tags = ['news', 'promo', 'vip', 'sale', 'ar', 'en', 'cairo', 'alex']
  const at = new Date('2026-01-01T00:00:00.000Z')
  return Array.from({ length: n }, (_, i) => ({
    phone: `${prefix}${String(i).padStart(8, '0')}`,
    name: `Imported ${seed}-${i}`,
    tags: [tags[i % 8]!, tags[(i * 7 + seed) % 8]!],
    attributes: { first_name: `I${i}`, source: 'bench' },
    ...(i % 4 ? { optIn: { at, method: 'IMPORT' as const } } : {}),
  }))
}

export async function bulkImport(ctx: BenchContext): Promise<void> {
  ctx.log('\na. bulk import of subscribers:')
  const batch = Math.max(1000, Math.round(100_000 * Math.min(ctx.opts.scale, 1)))
  const cleanup = () => ctx.rawPool.query(`DELETE FROM subscribers WHERE phone LIKE '+2019%'`)
  const rates: Record<'raw' | 'fast' | 'formatted' | 'prisma' | 'unnest' | 'twoGin', number[]> = { raw: [], fast: [], formatted: [], prisma: [], unnest: [], twoGin: [] }
  let seed = 0
  const imp = async (key: keyof typeof rates, label: string, fn: (rows: ImportSubscriberRow[]) => Promise<number>, written = false) => {
    const rows = importRows(`+20199${seed % 10}`, batch, seed++)
    // Phones as people write them (`+20 1990 1234 5678`): every row goes through libphonenumber-js.
    const input = written ? rows.map((r) => ({ ...r, phone: `${r.phone.slice(0, 3)} ${r.phone.slice(3, 7)} ${r.phone.slice(7, 11)} ${r.phone.slice(11)}` })) : rows
    const r = await throughput(ctx, label, () => fn(input))
    if (r.rows !== batch) throw new Error(`${label} inserted ${r.rows} rows, expected ${batch}`)
    rates[key].push(r.rate)
    await cleanup()
  }
  const rawImport = async (input: ImportSubscriberRow[]) =>
    ((await ctx.rawPool.query({ name: 'raw_import', text: importSubscribersStatement.text, values: packImportColumns(input) })).rows[0] as { inserted: number }).inserted
  // The common hand-written form: INSERT ... SELECT FROM unnest(<JS arrays>), insert-only.
  const rawUnnest = async (input: ImportSubscriberRow[]) =>
    (
      await ctx.rawPool.query(
        `INSERT INTO subscribers (phone, name, tags, attributes, opt_status, opted_in_at, opt_in_method)
         SELECT p, n, t::text[], a::jsonb, CASE WHEN o IS NULL THEN 'pending' ELSE 'opted_in' END::opt_status, o, CASE WHEN o IS NULL THEN NULL ELSE 'import' END::consent_method
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS u(p, n, t, a, o)
         ON CONFLICT (phone) DO NOTHING`,
        [
          input.map((r) => r.phone),
          input.map((r) => r.name ?? null),
          input.map((r) => `{${(r.tags ?? []).map((x) => `"${x}"`).join(',')}}`),
          input.map((r) => JSON.stringify(r.attributes ?? {})),
          input.map((r) => r.optIn?.at ?? null),
        ],
      )
    ).rowCount ?? 0
  for (let round = 0; round < 3; round++) {
    await imp('raw', `raw SQL, same statement (round ${round + 1})`, rawImport)
    await imp('fast', `API fast path (round ${round + 1})`, async (r) => (await ctx.fast.importSubscribers(r)).inserted)
    await imp('formatted', `API fast path, phones written with spaces (round ${round + 1})`, async (r) => (await ctx.fast.importSubscribers(r)).inserted, true)
    if (round < 2) await imp('prisma', `API via Prisma (round ${round + 1})`, async (r) => (await ctx.viaPrisma.importSubscribers(r)).inserted)
    if (round < 2) await imp('unnest', `raw SQL, unnest(JS arrays) insert-only (round ${round + 1})`, rawUnnest)
    // Two GIN indexes on tags, as before 009: the full one recreated for this run only.
    await ctx.rawPool.query('CREATE INDEX bench_subscribers_tags_full_idx ON subscribers USING GIN (tags)')
    try {
      await imp('twoGin', `raw SQL, same statement, with the full GIN index too (round ${round + 1})`, rawImport)
    } finally {
      await ctx.rawPool.query('DROP INDEX bench_subscribers_tags_full_idx')
    }
  }
  const ormBatch = Math.min(batch, 10_000)
  const orm = await throughput(ctx, `ORM only (createMany, one call, ${ormBatch} rows)`, () => ormImport(ctx.prisma, importRows('+201998', ormBatch, 99)))
  await cleanup()
  const raw = median(rates.raw)
  const op = 'a. bulk import'
  compare(ctx.rows, { op, path: 'API fast path (pg pool)', metric: 'rows/s', value: median(rates.fast), raw, note: `${batch} rows per call, median of 3` }, { atLeast: 0.8 })
  compare(ctx.rows, { op, path: 'API fast path, phones written with spaces (normalised per row) vs E.164 input', metric: 'rows/s', value: median(rates.formatted), raw: median(rates.fast), target: '-', note: 'the cost of libphonenumber-js per row; E.164 input is taken as is (one regex test, as before normalisation)' }, {})
  compare(ctx.rows, { op, path: 'API via Prisma $queryRaw', metric: 'rows/s', value: median(rates.prisma), raw, note: `${batch} rows, median of 2` }, { atLeast: 0.8 })
  compare(ctx.rows, { op, path: 'raw unnest(JS arrays), insert-only', metric: 'rows/s', value: median(rates.unnest), raw, note: 'the common hand-written form; slower than the packed columns the API sends' }, { atLeast: 0.8 })
  compare(ctx.rows, { op, path: 'ORM only (createMany)', metric: 'rows/s', value: orm.rate, raw, note: `${ormBatch} rows, insert-only (no merge)` }, { atLeast: 0.8 })
  compare(ctx.rows, { op, path: 'raw SQL with two GIN indexes on tags (before 009)', metric: 'rows/s', value: median(rates.twoGin), raw, target: '-', note: 'ratio = two indexes / the one kept; median of 3' }, {})
}
