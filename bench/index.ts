// `npm run bench [-- --scale=0.01] [--iterations=200] [--explain] [--skip-migrations]`
//
// Builds a dataset in a FRESH database `watify_bench` (dropped and recreated on the
// server of DATABASE_URL / .env / the embedded default; the configured database itself
// is never touched), then measures each hot path through the project's API (fast path
// on the pg pool, and through Prisma), the ORM-only way, and the raw-SQL limit through
// the same pg driver, in the same run. Writes .bench/latest.json and .bench/latest.md
// (plus a timestamped copy of each). Exit codes: 0 done; 1 a plan of c-f scans
// messages/subscribers sequentially (checked at scale >= 1, or with --explain); 2 bad arguments.
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'

import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'

import { fanOutStatements, campaignPerformanceStatement } from '../src/api/campaigns.ts'
import { type ApiDb, createApi, type ImportSubscriberRow, type TagExpression, type WatifyApi } from '../src/api/index.ts'
import { historyFirstPage, historyNextPage, recordDeliveryStatement } from '../src/api/messages.ts'
import { audienceStatement, importSubscribersStatement, packImportColumns } from '../src/api/subscribers.ts'
import { describeUrl, maskSecrets, maskUrl, projectRoot, resolveDatabaseUrl } from '../src/db/config.ts'
import { PrismaClient } from '../src/generated/prisma/client.ts'
import { buildDataset, datasetSize } from './dataset.ts'
import { median, percentile } from './stats.ts'
import { ormAudienceSize, ormCampaignPerformance, ormFanOut, ormHistory, ormImport, ormRecordDelivery } from './orm.ts'

const BENCH_DB = 'watify_bench'
const MIGRATE_DB = 'watify_bench_migrate'
const AUDIENCE: TagExpression = { all: ['vip'], any: ['news', 'promo'], none: ['churned'] }

const log = (line: string) => process.stdout.write(`${line}\n`)

// ---------------------------------------------------------------------------
// Arguments

function usage(): string {
  return [
    'Usage: npm run bench [-- --scale=<n>] [--iterations=<n>] [--explain] [--skip-migrations]',
    '',
    'Options:',
    '  --scale=<n>          dataset size relative to 200k subscribers / 50 campaigns / 1M messages (default 1)',
    '  --iterations=<n>     measured calls per latency operation, after 20 warm-up calls (default 200)',
    '  --explain            print and check the plans of c-f at any scale (always done at scale >= 1)',
    '  --skip-migrations    skip g (migration command timings)',
  ].join('\n')
}

function parseOptions(): { scale: number; iterations: number; explain: boolean; skipMigrations: boolean } {
  let values
  try {
    ;({ values } = parseArgs({
      options: { scale: { type: 'string' }, iterations: { type: 'string' }, explain: { type: 'boolean' }, 'skip-migrations': { type: 'boolean' }, help: { type: 'boolean' } },
      strict: true,
    }))
  } catch (err) {
    process.stderr.write(`! ${(err as Error).message}\n\n${usage()}\n`)
    process.exit(2)
  }
  if (values.help) {
    log(usage())
    process.exit(0)
  }
  // npm passes `npm run bench --scale=0.01` (before `--`) as npm_config_scale.
  const scaleText = values.scale ?? process.env.npm_config_scale ?? '1'
  const scale = Number(scaleText)
  if (!Number.isFinite(scale) || scale <= 0 || scale > 20) {
    process.stderr.write(`! --scale must be a number above 0 and at most 20, got \`${scaleText}\`\n\n${usage()}\n`)
    process.exit(2)
  }
  const itText = values.iterations ?? process.env.npm_config_iterations ?? '200'
  const iterations = Number(itText)
  if (!Number.isInteger(iterations) || iterations < 10 || iterations > 100_000) {
    process.stderr.write(`! --iterations must be a whole number from 10 to 100000, got \`${itText}\`\n\n${usage()}\n`)
    process.exit(2)
  }
  return { scale, iterations, explain: values.explain === true, skipMigrations: values['skip-migrations'] === true }
}

// ---------------------------------------------------------------------------
// Results

interface Row {
  op: string
  path: string
  metric: 'rows/s' | 'p50 ms' | 'wall ms'
  value: number
  p99?: number
  raw?: number
  rawP99?: number
  /** value/raw, oriented so that the target is a bound: throughput >= 0.8, latency <= 1.2, migrations <= 0.3. */
  ratio?: number
  target?: string
  ok?: boolean
  note?: string
}

const rows: Row[] = []


// ---------------------------------------------------------------------------
// Latency: every path called in turn within each iteration (order rotating), so
// background noise (autovacuum, checkpoints, the other core) falls on all alike.

type Call = (i: number) => Promise<unknown>

async function latency(op: string, paths: Record<string, Call>, raw: Call, iterations: number): Promise<void> {
  const all: Record<string, Call> = { raw, ...paths }
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(all).map((k) => [k, []]))
  const warmup = 20
  const entries = Object.entries(all)
  for (let i = 0; i < warmup + iterations; i++) {
    // Rotate who goes first, so no path always runs right after another's cache misses.
    for (let j = 0; j < entries.length; j++) {
      const [name, f] = entries[(i + j) % entries.length]!
      const t = performance.now()
      await f(i)
      if (i >= warmup) samples[name]!.push(performance.now() - t)
    }
  }
  const stat = (k: string) => {
    const s = samples[k]!.sort((a, b) => a - b)
    return { p50: percentile(s, 50), p99: percentile(s, 99) }
  }
  const r = stat('raw')
  for (const name of Object.keys(paths)) {
    const s = stat(name)
    const ratio = s.p50 / r.p50
    rows.push({ op, path: name, metric: 'p50 ms', value: s.p50, p99: s.p99, raw: r.p50, rawP99: r.p99, ratio, target: '<= 1.2x', ok: ratio <= 1.2 })
  }
  log(`  ${op}: raw p50 ${r.p50.toFixed(3)} ms / p99 ${r.p99.toFixed(3)} ms; ` + Object.keys(paths).map((k) => `${k} p50 ${stat(k).p50.toFixed(3)} ms`).join('; '))
}

// ---------------------------------------------------------------------------
// Child processes (g)

function runTimed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const t = performance.now()
    const child = spawn(cmd, args, { cwd: projectRoot(), env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ ms: performance.now() - t, code, out }))
  })
}

async function measureMigrations(serverUrl: string, env: NodeJS.ProcessEnv): Promise<void> {
  log('\ng. migration commands (CLI child processes, fresh database with all migrations applied)')
  const url = withDatabase(serverUrl, MIGRATE_DB)
  await recreateDatabase(serverUrl, MIGRATE_DB)
  const childEnv = { ...env, DATABASE_URL: url }
  const deploy = await runTimed('npx', ['prisma', 'migrate', 'deploy'], childEnv)
  if (deploy.code !== 0) {
    log(`  ! npx prisma migrate deploy failed (exit ${deploy.code}); g not measured:\n${deploy.out}`)
    rows.push({ op: 'g. migrations', path: 'all', metric: 'wall ms', value: NaN, note: 'prisma migrate deploy failed' })
    return
  }
  const reps = 3
  const timeIt = async (label: string, cmds: Array<[string, string[]]>) => {
    const times: number[] = []
    for (let i = 0; i < reps; i++) {
      let total = 0
      for (const [cmd, args] of cmds) {
        const r = await runTimed(cmd, args, childEnv)
        if (r.code !== 0) {
          log(`  ! \`${cmd} ${args.join(' ')}\` exited ${r.code}:\n${r.out.trimEnd()}`)
          return null
        }
        total += r.ms
      }
      times.push(total)
    }
    const m = median(times)
    log(`  ${label}: median ${m.toFixed(0)} ms of ${times.map((t) => t.toFixed(0)).join(', ')}`)
    return m
  }
  const prisma = await timeIt('npx prisma migrate status', [['npx', ['prisma', 'migrate', 'status']]])
  const status = await timeIt('npm run migrate:status', [['npm', ['run', '--silent', 'migrate:status']]])
  const cycle = await timeIt('npm run migrate:rollback + npm run migrate', [
    ['npm', ['run', '--silent', 'migrate:rollback']],
    ['npm', ['run', '--silent', 'migrate']],
  ])
  for (const [p, v] of [
    ['npm run migrate:status', status],
    ['npm run migrate:rollback + npm run migrate (1 step)', cycle],
  ] as const) {
    if (v === null || prisma === null) {
      rows.push({ op: 'g. migrations', path: p, metric: 'wall ms', value: NaN, note: v === null ? 'command failed or missing' : 'prisma migrate status failed' })
      continue
    }
    const ratio = v / prisma
    rows.push({ op: 'g. migrations', path: p, metric: 'wall ms', value: v, raw: prisma, ratio, target: '<= 0.3x', ok: ratio <= 0.3, note: 'vs `npx prisma migrate status`' })
  }
  await dropDatabase(serverUrl, MIGRATE_DB)
}

// ---------------------------------------------------------------------------
// Databases

function withDatabase(url: string, database: string): string {
  const u = new URL(url)
  u.pathname = `/${database}`
  u.searchParams.delete('schema') // the bench database uses public
  return u.toString()
}

async function admin<T>(serverUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: serverUrl })
  await c.connect()
  try {
    return await fn(c)
  } finally {
    await c.end()
  }
}

async function recreateDatabase(serverUrl: string, name: string): Promise<void> {
  await admin(serverUrl, async (c) => {
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    await c.query(`CREATE DATABASE "${name}" ENCODING 'UTF8' TEMPLATE template0`)
  })
}

async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  await admin(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
}

// ---------------------------------------------------------------------------
// Plans

interface PlanNode {
  'Node Type': string
  'Relation Name'?: string
  Plans?: PlanNode[]
}

function seqScans(node: PlanNode, out: string[] = []): string[] {
  if (node['Node Type'] === 'Seq Scan' && (node['Relation Name'] === 'messages' || node['Relation Name'] === 'subscribers')) out.push(node['Relation Name'])
  for (const child of node.Plans ?? []) seqScans(child, out)
  return out
}

async function explain(pool: pg.Pool, label: string, text: string, params: unknown[]): Promise<string[]> {
  const plain = await pool.query(`EXPLAIN ${text}`, params)
  log(`\n-- ${label}\n${plain.rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n')}`)
  const json = await pool.query(`EXPLAIN (FORMAT JSON) ${text}`, params)
  const plan = (json.rows[0] as { 'QUERY PLAN': Array<{ Plan: PlanNode }> })['QUERY PLAN'][0]!.Plan
  return seqScans(plan).map((t) => `${label}: Seq Scan on ${t}`)
}

// ---------------------------------------------------------------------------

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

async function main(): Promise<number> {
  const opts = parseOptions()
  const size = datasetSize(opts.scale)
  const full = opts.scale >= 1
  const started = new Date()

  const resolved = await resolveDatabaseUrl({ log })
  const info = describeUrl(resolved.url)
  if (info.database === BENCH_DB || info.database === MIGRATE_DB) {
    process.stderr.write(`! The configured database is \`${info.database}\`, which the benchmark drops and recreates.\n  Point DATABASE_URL at your own database (e.g. \`watify\`); the benchmark creates \`${BENCH_DB}\` next to it.\n`)
    return 2
  }
  const serverUrl = resolved.url
  const benchUrl = withDatabase(serverUrl, BENCH_DB)
  log(`Server: ${maskUrl(serverUrl)} (${resolved.source}); benchmark database: ${maskUrl(benchUrl)}`)
  log(`Scale ${opts.scale}: ${size.subscribers} subscribers, ${size.campaigns} campaigns, ${size.messages} messages; ${opts.iterations} iterations per latency op`)

  // 1. Fresh database and migrations.
  let t = performance.now()
  await recreateDatabase(serverUrl, BENCH_DB)
  const childEnv = { DATABASE_URL: benchUrl }
  const deploy = await runTimed('npx', ['prisma', 'migrate', 'deploy'], childEnv)
  if (deploy.code !== 0) {
    process.stderr.write(`! npx prisma migrate deploy failed (exit ${deploy.code}):\n${deploy.out}\n`)
    return 1
  }
  log(`Migrations applied (npx prisma migrate deploy) in ${((performance.now() - t) / 1000).toFixed(1)} s`)

  // Separate pools: the API's (shared with Prisma, as src/client.ts would) and the raw baseline's.
  const apiPool = new pg.Pool({ connectionString: benchUrl, max: 4 })
  const rawPool = new pg.Pool({ connectionString: benchUrl, max: 4 })
  const prisma = new PrismaClient({ adapter: new PrismaPg(apiPool) })
  const fast: WatifyApi = createApi({ prisma, pool: apiPool })
  const viaPrisma: WatifyApi = createApi(prisma)
  const pgVersion = ((await rawPool.query('SHOW server_version')).rows[0] as { server_version: string }).server_version
  let exit = 0

  try {
    // 2. Dataset.
    log('Building dataset:')
    t = performance.now()
    const client = await rawPool.connect()
    try {
      await buildDataset(client, size, log)
    } finally {
      client.release()
    }
    const buildSeconds = (performance.now() - t) / 1000
    log(`Dataset built in ${buildSeconds.toFixed(1)} s`)

    // 3. Latency paths (c-f) first, on the dataset exactly as built.
    log(`\nLatency (${opts.iterations} iterations after 20 warm-up, paths interleaved):`)
    const n = opts.iterations + 20
    const raw = async (stmt: { name: string; text: string }, params: unknown[]) => (await rawPool.query({ name: `raw_${stmt.name}`, text: stmt.text, values: params })).rows

    // c. Delivery webhooks: each call moves a different `sent` message to `delivered`.
    const sent = (await rawPool.query(`SELECT whatsapp_message_id AS w FROM messages WHERE status = 'sent' ORDER BY id LIMIT $1`, [n * 4])).rows.map((r: { w: string }) => r.w)
    if (sent.length < n * 4) throw new Error(`dataset has only ${sent.length} sent messages, ${n * 4} needed: raise --scale or lower --iterations`)
    const at = new Date()
    await latency(
      'c. delivery webhook',
      {
        'API fast path (pg pool)': (i) => fast.recordDeliveryStatus(sent[i * 4 + 1]!, 'DELIVERED', at),
        'API via Prisma $queryRaw': (i) => viaPrisma.recordDeliveryStatus(sent[i * 4 + 2]!, 'DELIVERED', at),
        'ORM only (findUnique + updateMany)': (i) => ormRecordDelivery(prisma, sent[i * 4 + 3]!, 'DELIVERED', at),
      },
      (i) => raw(recordDeliveryStatement, [sent[i * 4]!, 'delivered', at, null, null]),
      opts.iterations,
    )

    // d. Campaign performance.
    const cid = (i: number) => (i % size.campaigns) + 1
    await latency(
      'd. campaign performance',
      {
        'API fast path (pg pool)': (i) => fast.campaignPerformance(cid(i)),
        'API via Prisma $queryRaw': (i) => viaPrisma.campaignPerformance(cid(i)),
        'ORM only (findUnique)': (i) => ormCampaignPerformance(prisma, cid(i)),
      },
      (i) => raw(campaignPerformanceStatement, [cid(i)]),
      opts.iterations,
    )

    // e. Audience size.
    const audStmt = audienceStatement(true, true, true)
    await latency(
      'e. audience size',
      {
        'API fast path (pg pool)': () => fast.audienceSize(AUDIENCE),
        'API via Prisma $queryRaw': () => viaPrisma.audienceSize(AUDIENCE),
        'ORM only (count)': () => ormAudienceSize(prisma, AUDIENCE),
      },
      () => raw(audStmt, [AUDIENCE.all, AUDIENCE.any, AUDIENCE.none]),
      opts.iterations,
    )

    // f. History: even iterations the newest page, odd ones the page after a cursor.
    const subs = (
      await rawPool.query(
        `SELECT s.id, (SELECT m.created_at FROM messages m WHERE m.subscriber_id = s.id ORDER BY m.created_at DESC, m.id DESC OFFSET 1 LIMIT 1) AS c_at,
                (SELECT m.id FROM messages m WHERE m.subscriber_id = s.id ORDER BY m.created_at DESC, m.id DESC OFFSET 1 LIMIT 1) AS c_id
           FROM subscribers s WHERE s.opt_status = 'opted_in' AND s.id % 97 = 1 ORDER BY s.id LIMIT $1`,
        [n],
      )
    ).rows as Array<{ id: number; c_at: Date | null; c_id: string | null }>
    const limit = 20
    const hist = (i: number) => subs[i % subs.length]!
    const cursorOf = (s: { c_at: Date | null; c_id: string | null }) => (s.c_at && s.c_id ? { createdAt: s.c_at, id: BigInt(s.c_id) } : null)
    const apiCursor = (s: { c_at: Date | null; c_id: string | null }) => {
      const c = cursorOf(s)
      return c ? Buffer.from(`${c.createdAt.toISOString()}|${c.id}`).toString('base64url') : null
    }
    await latency(
      'f. subscriber history (limit 20)',
      {
        'API fast path (pg pool)': (i) => fast.subscriberHistory(hist(i).id, { limit, cursor: i % 2 ? apiCursor(hist(i)) : null }),
        'API via Prisma $queryRaw': (i) => viaPrisma.subscriberHistory(hist(i).id, { limit, cursor: i % 2 ? apiCursor(hist(i)) : null }),
        'ORM only (findMany, OR keyset)': (i) => ormHistory(prisma, hist(i).id, limit, (i % 2 && cursorOf(hist(i))) || undefined),
      },
      (i) => {
        const s = hist(i)
        const c = i % 2 ? cursorOf(s) : null
        return c ? raw(historyNextPage, [s.id, limit + 1, c.createdAt, c.id.toString()]) : raw(historyFirstPage, [s.id, limit + 1])
      },
      opts.iterations,
    )

    // 4. Plans of c-f.
    const violations: string[] = []
    if (full || opts.explain) {
      log('\nPlans (EXPLAIN) of c-f:')
      const s = subs.find((x) => x.c_at)!
      violations.push(...(await explain(rawPool, 'c. delivery webhook', recordDeliveryStatement.text, [sent[0]!, 'delivered', at, null, null])))
      violations.push(...(await explain(rawPool, 'd. campaign performance', campaignPerformanceStatement.text, [1])))
      violations.push(...(await explain(rawPool, 'e. audience size', audStmt.text, [AUDIENCE.all, AUDIENCE.any, AUDIENCE.none])))
      violations.push(...(await explain(rawPool, 'f. history, first page', historyFirstPage.text, [s.id, limit + 1])))
      violations.push(...(await explain(rawPool, 'f. history, next page', historyNextPage.text, [s.id, limit + 1, s.c_at, s.c_id])))
      if (violations.length) {
        log(`\n! Sequential scans on big tables:\n${violations.map((v) => `  ${v}`).join('\n')}`)
        if (full || opts.explain) exit = 1
      } else log('\nNo plan of c-f scans messages or subscribers sequentially.')
    }

    // 5. Fan-out (b): new campaigns targeting news OR promo (~half of the opted-in).
    log('\nb. campaign fan-out:')
    const newCampaign = async (name: string, tags: string[], match: 'any' | 'all') =>
      ((await rawPool.query(`INSERT INTO campaigns (owner_id, name, body, target_tags, target_tag_match) VALUES (1, $1, 'Fan-out bench', $2, $3) RETURNING id`, [name, tags, match])).rows[0] as { id: number }).id
    const rawFanOut = async (id: number) => {
      const c = await rawPool.connect()
      try {
        await c.query('BEGIN')
        const lock = (await c.query({ name: 'raw_lock', text: fanOutStatements.lockCampaign.text, values: [id] })).rows[0] as { target_tags: string[]; group_ids: number[] }
        const ins = (await c.query({ name: 'raw_ins', text: fanOutStatements.insertAny.text, values: [id, lock.target_tags, lock.group_ids] })).rows[0] as { n: number }
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
    const throughput = async (label: string, fn: () => Promise<number>) => {
      const t0 = performance.now()
      const count = await fn()
      const s = (performance.now() - t0) / 1000
      log(`  ${label}: ${count} rows in ${s.toFixed(2)} s = ${Math.round(count / s)} rows/s`)
      return { rows: count, rate: count / s }
    }
    const fanRates: Record<string, number[]> = { raw: [], fast: [], prisma: [] }
    let fanRows = 0
    for (let round = 0; round < 2; round++) {
      fanRates.raw!.push((await throughput(`raw SQL (round ${round + 1})`, async () => rawFanOut(await newCampaign(`raw ${round}`, ['news', 'promo'], 'any')))).rate)
      const f = await throughput(`API fast path (round ${round + 1})`, async () => (await fast.fanOutCampaign(await newCampaign(`fast ${round}`, ['news', 'promo'], 'any'))).inserted)
      fanRates.fast!.push(f.rate)
      fanRows = f.rows
      if (round === 0) fanRates.prisma!.push((await throughput('API via Prisma', async () => (await viaPrisma.fanOutCampaign(await newCampaign('prisma', ['news', 'promo'], 'any'))).inserted)).rate)
    }
    // Idempotency check: a second fan-out of a campaign inserts nothing.
    const again = await fast.fanOutCampaign(await newCampaign('again', ['vip'], 'any'))
    const repeat = await fast.fanOutCampaign(again.campaignId)
    if (repeat.inserted !== 0) throw new Error(`fan-out is not idempotent: the second run inserted ${repeat.inserted} rows`)
    const ormSmall = await throughput(`ORM only (findMany + createMany 5k chunks), vip campaign`, async () => ormFanOut(prisma, await newCampaign('orm', ['vip'], 'any')))
    const rawFan = median(fanRates.raw!)
    for (const [p, v, note] of [
      ['API fast path (pg pool)', median(fanRates.fast!), `${fanRows} rows per campaign, median of 2`],
      ['API via Prisma (interactive transaction)', median(fanRates.prisma!), `${fanRows} rows, 1 run`],
      ['ORM only (findMany + createMany)', ormSmall.rate, `${ormSmall.rows} rows (vip campaign; the full one would take minutes)`],
    ] as const) {
      rows.push({ op: 'b. campaign fan-out', path: p, metric: 'rows/s', value: v, raw: rawFan, ratio: v / rawFan, target: '>= 0.8x', ok: v / rawFan >= 0.8, note })
    }

    // 6. Import (a), last: it grows the subscribers table. Each run imports new phones, then deletes them.
    log('\na. bulk import of subscribers:')
    const batch = Math.max(1000, Math.round(100_000 * Math.min(opts.scale, 1)))
    const cleanup = () => rawPool.query(`DELETE FROM subscribers WHERE phone LIKE '+2019%'`)
    const impRates: Record<string, number[]> = { raw: [], fast: [], prisma: [], unnest: [] }
    let seed = 0
    const imp = async (key: string, label: string, fn: (rows: ImportSubscriberRow[]) => Promise<number>) => {
      const input = importRows(`+20199${seed % 10}`, batch, seed++)
      const r = await throughput(label, () => fn(input))
      if (r.rows !== batch) throw new Error(`${label} inserted ${r.rows} rows, expected ${batch}`)
      impRates[key]!.push(r.rate)
      await cleanup()
    }
    const rawImport = async (input: ImportSubscriberRow[]) =>
      ((await rawPool.query({ name: 'raw_import', text: importSubscribersStatement.text, values: packImportColumns(input) })).rows[0] as { inserted: number }).inserted
    // The issue's reference: INSERT ... SELECT FROM unnest(<JS arrays>), insert-only.
    const rawUnnest = async (input: ImportSubscriberRow[]) =>
      (
        await rawPool.query(
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
      await imp('fast', `API fast path (round ${round + 1})`, async (r) => (await fast.importSubscribers(r)).inserted)
      if (round < 2) await imp('prisma', `API via Prisma (round ${round + 1})`, async (r) => (await viaPrisma.importSubscribers(r)).inserted)
      if (round < 2) await imp('unnest', `raw SQL, unnest(JS arrays) insert-only (round ${round + 1})`, rawUnnest)
    }
    const ormBatch = Math.min(batch, 10_000)
    const ormInput = importRows('+201998', ormBatch, 99)
    const orm = await throughput(`ORM only (createMany, one call, ${ormBatch} rows)`, () => ormImport(prisma, ormInput))
    await cleanup()
    const rawImp = median(impRates.raw!)
    for (const [p, v, note] of [
      ['API fast path (pg pool)', median(impRates.fast!), `${batch} rows per call, median of 3`],
      ['API via Prisma $queryRaw', median(impRates.prisma!), `${batch} rows, median of 2`],
      ['raw unnest(JS arrays), insert-only', median(impRates.unnest!), "the issue's reference SQL; slower than the packed columns the API sends"],
      ['ORM only (createMany)', orm.rate, `${ormBatch} rows, insert-only (no merge)`],
    ] as const) {
      rows.push({ op: 'a. bulk import', path: p, metric: 'rows/s', value: v, raw: rawImp, ratio: v / rawImp, target: '>= 0.8x', ok: v / rawImp >= 0.8, note })
    }
  } finally {
    await prisma.$disconnect()
    await rawPool.end()
    await apiPool.end().catch(() => {})
  }

  // 7. Migration commands.
  if (!opts.skipMigrations) await measureMigrations(serverUrl, childEnv)
  await dropDatabase(serverUrl, BENCH_DB)

  // 8. Report.
  const machine = {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    postgres: pgVersion,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  }
  const report = { startedAt: started.toISOString(), finishedAt: new Date().toISOString(), scale: opts.scale, size, iterations: opts.iterations, machine, results: rows }
  const md = markdown(report)
  log(`\n${md}`)
  const dir = path.join(projectRoot(), '.bench')
  mkdirSync(dir, { recursive: true })
  const stamp = started.toISOString().replace(/[:.]/g, '-')
  const json = JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)
  for (const name of ['latest', `run-${stamp}`]) {
    writeFileSync(path.join(dir, `${name}.json`), `${json}\n`)
    writeFileSync(path.join(dir, `${name}.md`), md)
  }
  log(`Results written to .bench/latest.json and .bench/latest.md (and run-${stamp}.*)`)
  return exit
}

function fmt(v: number | undefined, metric: Row['metric']): string {
  if (v === undefined || !Number.isFinite(v)) return '-'
  if (metric === 'rows/s') return Math.round(v).toLocaleString('en-US')
  if (metric === 'wall ms') return v.toFixed(0)
  return v.toFixed(3)
}

function markdown(r: { scale: number; size: object; iterations: number; machine: Record<string, unknown>; startedAt: string }): string {
  const m = r.machine
  const lines = [
    `Machine: ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB RAM, PostgreSQL ${m.postgres}, Node ${m.node}, ${m.platform}`,
    `Dataset: scale ${r.scale} (${Object.entries(r.size).map(([k, v]) => `${v} ${k}`).join(', ')}); latency: ${r.iterations} iterations after 20 warm-up; run ${r.startedAt}`,
    '',
    '| Operation | Path | Metric | Value | p99 ms | Raw SQL (pg) | Raw p99 ms | Ratio | Target | Met | Note |',
    '|---|---|---|---:|---:|---:|---:|---:|---|---|---|',
  ]
  for (const x of rows) {
    lines.push(
      `| ${x.op} | ${x.path} | ${x.metric} | ${fmt(x.value, x.metric)} | ${x.p99 === undefined ? '' : x.p99.toFixed(3)} | ${fmt(x.raw, x.metric)} | ${x.rawP99 === undefined ? '' : x.rawP99.toFixed(3)} | ${x.ratio === undefined || !Number.isFinite(x.ratio) ? '-' : `${x.ratio.toFixed(2)}x`} | ${x.target ?? ''} | ${x.ok === undefined ? '' : x.ok ? 'yes' : 'no'} | ${x.note ?? ''} |`,
    )
  }
  return `${lines.join('\n')}\n`
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`! bench failed: ${maskSecrets(err instanceof Error ? (err.stack ?? err.message) : String(err))}\n`)
    process.exit(1)
  },
)
