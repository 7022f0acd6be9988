// `npm run bench:partitions [-- --scale=0.2] [--iterations=300]`
//
// messages partitioned by id (010) against the same rows in one plain table: p50/p99 of the
// four hot statements (delivery webhook, campaign performance, subscriber history, sender
// claim) with 1, 12 and 36 partitions holding the same rows, calls interleaved across the
// four databases, every plan printed; then the longest wait of 8 webhook sessions while
// retention detaches and drops 35 of the 36 partitions. Works in FRESH databases
// `watify_bench_part_*` on the server of DIRECT_DATABASE_URL / DATABASE_URL / the embedded
// default, dropped at the end. Limit: each ratio (partitioned / plain p50) within 1.3x.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'

import pg from 'pg'

import { campaignPerformanceStatement } from '../src/api/campaigns.ts'
import { historyFirstPage, recordDeliveryStatement } from '../src/api/messages.ts'
import { claimQueuedStatement } from '../src/api/queue.ts'
import { maskUrl, projectRoot, resolveDatabaseUrl } from '../src/db/config.ts'
import { withDatabase } from '../src/migrate/connection.ts'
import { deploy } from '../src/migrate/index.ts'
import { retainMessages } from '../src/migrate/partitions.ts'
import { buildDataset, datasetSize } from './dataset.ts'
import { percentile } from './stats.ts'

const log = (line: string) => process.stdout.write(`${line}\n`)
const LIMIT = 1.3

async function admin(url: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    await c.query(sql)
  } finally {
    await c.end()
  }
}

/** Rows of the first partition spread over `n` partitions of equal id width; triggers off (the rows move, nothing changes). */
async function repartition(url: string, n: number): Promise<void> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    const { rows } = await c.query<{ hi: string }>('SELECT max(id)::text AS hi FROM messages')
    const hi = BigInt(rows[0]!.hi) + 1n
    const width = (hi + BigInt(n) - 1n) / BigInt(n)
    await c.query('BEGIN')
    await c.query('SET LOCAL session_replication_role = replica')
    const parts = (await c.query<{ name: string }>(`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'messages'::regclass`)).rows
    for (const p of parts) await c.query(`ALTER TABLE messages DETACH PARTITION ${p.name}`)
    await c.query('ALTER TABLE messages_p0 RENAME TO messages_old')
    for (const p of parts) if (p.name !== 'messages_p0') await c.query(`DROP TABLE ${p.name}`)
    for (let k = 0n; k < BigInt(n); k++) {
      const lo = k === 0n ? 'MINVALUE' : String(k * width)
      await c.query(`CREATE TABLE messages_p${k * width} PARTITION OF messages FOR VALUES FROM (${lo}) TO (${(k + 1n) * width}) WITH (fillfactor = 85)`)
    }
    await c.query('INSERT INTO messages SELECT * FROM messages_old')
    await c.query('DROP TABLE messages_old')
    await c.query('COMMIT')
    await c.query(`SELECT setval('messages_id_seq', (SELECT max(id) FROM messages))`)
    await c.query('SELECT messages_create_partitions(2)')
    await c.query('VACUUM ANALYZE messages')
  } finally {
    await c.end()
  }
}

/** The same rows in one plain table: 010's own down.sql. */
async function unpartition(url: string): Promise<void> {
  const down = readFileSync(path.join(projectRoot(), 'prisma/migrations/010_partition_messages/down.sql'), 'utf8')
  await admin(url, down)
  await admin(url, 'VACUUM ANALYZE messages')
}

// Before 010 the webhook found the message by its unique index on messages.
const plainDelivery = recordDeliveryStatement.text.replace(
  /SELECT m\.id, m\.status FROM message_whatsapp_ids w JOIN messages m ON m\.id = w\.message_id\s+WHERE w\.whatsapp_message_id = \$1::varchar/,
  'SELECT id, status FROM messages WHERE whatsapp_message_id = $1::varchar',
)

interface Layout {
  label: string
  url: string
  pool: pg.Pool
  webhook: string
  wamids: string[]
  subscribers: number[]
  campaigns: number[]
  times: Record<string, number[]>
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { scale: { type: 'string', default: '0.2' }, iterations: { type: 'string', default: '300' } } })
  const scale = Number(values.scale)
  const iterations = Number(values.iterations)
  if (!(scale > 0) || !Number.isInteger(iterations) || iterations < 10) {
    process.stderr.write('! --scale takes a number above 0, --iterations a whole number of at least 10\n')
    return 2
  }
  const resolved = await resolveDatabaseUrl({ log })
  const server = resolved.url
  const base = 'watify_bench_part_base'
  const size = datasetSize(scale)
  log(`Server: ${maskUrl(server)}; ${size.messages} messages, ${iterations} iterations per statement and layout`)
  await admin(server, `DROP DATABASE IF EXISTS ${base} WITH (FORCE)`)
  await admin(server, `CREATE DATABASE ${base} ENCODING 'UTF8' TEMPLATE template0`)
  await deploy({ url: withDatabase(server, base), logger: { info() {}, warn() {} } as never })
  {
    const p = new pg.Pool({ connectionString: withDatabase(server, base), max: 1 })
    const c = await p.connect()
    try {
      await buildDataset(c, size, log)
    } finally {
      c.release()
      await p.end()
    }
  }
  const layouts: Layout[] = []
  for (const [label, n] of [['plain table', 0], ['1 partition', 1], ['12 partitions', 12], ['36 partitions', 36]] as const) {
    const name = `watify_bench_part_${n}`
    await admin(server, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    await admin(server, `CREATE DATABASE ${name} TEMPLATE ${base}`)
    const url = withDatabase(server, name)
    const t0 = performance.now()
    if (n === 0) await unpartition(url)
    else await repartition(url, n)
    log(`Layout ${label}: ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    const pool = new pg.Pool({ connectionString: url, max: 9 })
    const q = async (sql: string) => (await pool.query(sql)).rows
    layouts.push({
      label,
      url,
      pool,
      webhook: n === 0 ? plainDelivery : recordDeliveryStatement.text,
      // The same messages in every layout (same ids, same WhatsApp ids).
      wamids: (await q(`SELECT whatsapp_message_id AS w FROM messages WHERE status = 'sent' ORDER BY id DESC LIMIT ${iterations * 2}`)).map((r) => r.w),
      subscribers: (await q(`SELECT subscriber_id AS s FROM messages WHERE subscriber_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT ${iterations}`)).map((r) => r.s),
      campaigns: (await q('SELECT id FROM campaigns ORDER BY id')).map((r) => r.id),
      times: {},
    })
  }
  await admin(server, `DROP DATABASE ${base}`)

  const at = new Date()
  // Named statements, as src/api runs them (prepared once per session, plans cached).
  type Call = [{ name: string; text: string }, unknown[]]
  const statements: Array<[string, (l: Layout, i: number) => Call]> = [
    ['recordDeliveryStatus', (l, i) => [{ name: recordDeliveryStatement.name, text: l.webhook }, [l.wamids[i % l.wamids.length], i % 2 ? 'read' : 'delivered', at, null, null]]],
    ['campaignPerformance', (l, i) => [campaignPerformanceStatement, [l.campaigns[i % l.campaigns.length]]]],
    ['subscriberHistory', (l, i) => [historyFirstPage, [l.subscribers[i % l.subscribers.length], 21]]],
    ['claimQueuedMessages', () => [claimQueuedStatement, [10, 300_000]]],
  ]
  const call = (l: Layout, [stmt, values]: Call) => l.pool.query({ name: stmt.name, text: stmt.text, values })
  for (const [op, make] of statements) {
    log(`\n## Plans: ${op}`)
    for (const l of layouts) {
      const [stmt, params] = make(l, 0)
      const plan = await l.pool.query(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ${stmt.text}`, params)
      log(`-- ${l.label}\n${plan.rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n')}`)
    }
    // Warm-up, then interleaved: each iteration calls every layout once, in rotating order.
    for (let i = 1; i <= 20; i++) for (const l of layouts) await call(l, make(l, i))
    for (let i = 21; i < iterations + 21; i++) {
      for (let k = 0; k < layouts.length; k++) {
        const l = layouts[(i + k) % layouts.length]!
        const c = make(l, i)
        const t0 = performance.now()
        await call(l, c)
        ;(l.times[op] ??= []).push(performance.now() - t0)
      }
    }
  }

  log('\n| statement | layout | p50 ms | p99 ms | p50 / plain | within 1.3x |')
  log('|---|---|---|---|---|---|')
  let over = 0
  for (const [op] of statements) {
    const p50 = (l: Layout) => percentile([...l.times[op]!].sort((a, b) => a - b), 50)
    const plain = p50(layouts[0]!)
    for (const l of layouts) {
      const sorted = [...l.times[op]!].sort((a, b) => a - b)
      const ratio = p50(l) / plain
      if (l !== layouts[0] && ratio > LIMIT) over++
      log(`| ${op} | ${l.label} | ${percentile(sorted, 50).toFixed(3)} | ${percentile(sorted, 99).toFixed(3)} | ${ratio.toFixed(2)} | ${l === layouts[0] ? '-' : ratio <= LIMIT ? 'yes' : 'NO'} |`)
    }
  }

  // Retention under webhook load: 8 sessions update messages of the newest partition.
  const l36 = layouts[3]!
  const live = (await l36.pool.query(`SELECT whatsapp_message_id AS w FROM messages WHERE whatsapp_message_id IS NOT NULL ORDER BY id DESC LIMIT 2000`)).rows.map((r) => r.w)
  let done = false
  let waits: number[] = []
  const writers = () => Array.from({ length: 8 }, async (_, w) => {
    const c = new pg.Client({ connectionString: l36.url, application_name: 'webhook' })
    await c.connect()
    try {
      for (let i = w; !done; i += 8) {
        const t0 = performance.now()
        await c.query({ name: recordDeliveryStatement.name, text: recordDeliveryStatement.text, values: [live[i % live.length], i % 2 ? 'read' : 'delivered', new Date(), null, null] })
        waits.push(performance.now() - t0)
      }
    } finally {
      await c.end()
    }
  })
  // Baseline first: the same 8 sessions for 10 s with nothing else running (this machine's own stalls).
  let running = writers()
  await new Promise((r) => setTimeout(r, 10_000))
  done = true
  await Promise.all(running)
  const baseline = waits
  waits = []
  done = false
  running = writers()
  await new Promise((r) => setTimeout(r, 500))
  const t0 = performance.now()
  const r = await retainMessages({ url: l36.url, olderThan: '1 day', consent: () => true })
  const retainMs = performance.now() - t0
  await new Promise((r) => setTimeout(r, 500))
  done = true
  await Promise.all(running)
  const rows = r.partitions.reduce((s, p) => s + p.rows, 0)
  const p99 = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 99).toFixed(1)
  log(`\nWebhooks alone (8 sessions, 10 s): ${baseline.length} webhooks, longest wait ${Math.max(...baseline).toFixed(1)} ms, p99 ${p99(baseline)} ms`)
  log(`Retention: ${r.partitions.length} partitions, ${rows} rows dropped in ${(retainMs / 1000).toFixed(1)} s while 8 webhook sessions wrote: ${waits.length} webhooks, longest wait ${Math.max(...waits).toFixed(1)} ms (limit 200 ms), p99 ${p99(waits)} ms`)

  for (const l of layouts) await l.pool.end()
  for (const n of [0, 1, 12, 36]) await admin(server, `DROP DATABASE IF EXISTS watify_bench_part_${n} WITH (FORCE)`)
  log(over ? `\n! ${over} ratio(s) above ${LIMIT}x` : `\nEvery partitioned p50 within ${LIMIT}x of the plain table.`)
  return 0
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`! bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(1)
  },
)
