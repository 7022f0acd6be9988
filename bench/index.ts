// `npm run bench [-- --scale=0.01] [--iterations=200] [--duration=3] [--database=watify_bench] [--explain] [--skip-migrations] [--only=coalesce]`
//
// Builds a dataset in a FRESH database `watify_bench` (dropped and recreated on the
// server of DATABASE_URL / .env / the embedded default; the configured database itself
// is never touched), then measures each hot path through the project's API (fast path
// on the pg pool, and through Prisma), the ORM-only way, and its limit (the same SQL
// through the same pg driver, or the same statements with the database rules' triggers
// off), in the same run; concurrent paths with concurrent sessions. Writes
// .bench/latest.json and .bench/latest.md (plus a timestamped copy of each).
// Exit codes: 0 done; 1 a hot plan scans messages/subscribers sequentially (checked at
// scale >= 1, or with --explain); 2 bad arguments.
import path from 'node:path'

import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'

import { createApi } from '../src/api/index.ts'
import { describeUrl, maskSecrets, maskUrl, projectRoot, resolveDatabaseUrl } from '../src/db/config.ts'
import { PrismaClient } from '../src/generated/prisma/client.ts'
import { BenchArgsError, parseBenchArgs, usage } from './args.ts'
import { buildDataset, datasetSize } from './dataset.ts'
import { type BenchContext, dropDatabase, recreateDatabase, runTimed, withDatabase } from './harness.ts'
import { machine, markdown, type Report, writeReport } from './report.ts'
import { audienceLatency } from './scenarios/audience.ts'
import { campaignPerformanceLatency } from './scenarios/campaign-performance.ts'
import { coalescedWebhooks } from './scenarios/coalesce.ts'
import { fanOut } from './scenarios/fan-out.ts'
import { historyLatency } from './scenarios/history.ts'
import { liveIndex } from './scenarios/live-index.ts'
import { bulkImport } from './scenarios/import.ts'
import { MIGRATE_DB, migrationCommands } from './scenarios/migrations.ts'
import { checkPlans } from './scenarios/plans.ts'
import { REPLICA_SCALE, replicaScenario } from './scenarios/replica.ts'
import { senderQueue } from './scenarios/sender-queue.ts'
import { webhookLatency } from './scenarios/webhook.ts'
import { webhookStorm } from './scenarios/webhook-storm.ts'

const log = (line: string) => process.stdout.write(`${line}\n`)

async function main(): Promise<number> {
  let opts
  try {
    opts = parseBenchArgs(process.argv.slice(2))
  } catch (err) {
    if (!(err instanceof BenchArgsError)) throw err
    process.stderr.write(`! ${err.message}\n\n${usage()}\n`)
    return 2
  }
  if (!opts) {
    log(usage())
    return 0
  }
  if (opts.only === 'replica') {
    const started = new Date()
    const rows: Report['results'] = []
    const { postgres, size } = await replicaScenario({ duration: opts.duration, log, rows })
    const report: Report = { startedAt: started.toISOString(), finishedAt: new Date().toISOString(), scale: REPLICA_SCALE, size, iterations: opts.iterations, duration: opts.duration, machine: machine(postgres), results: rows }
    log(`\n${markdown(report)}`)
    const stamp = writeReport(path.join(projectRoot(), '.bench'), report)
    log(`Results written to .bench/latest.json and .bench/latest.md (and run-${stamp}.*)`)
    return 0
  }
  const BENCH_DB = opts.database
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
  log(`Scale ${opts.scale}: ${size.subscribers} subscribers, ${size.campaigns} campaigns, ${size.messages} messages; ${opts.iterations} iterations per latency op; ${opts.duration} s per concurrent run`)

  // 1. Fresh database and migrations.
  let t = performance.now()
  await recreateDatabase(serverUrl, BENCH_DB)
  const deploy = await runTimed('npx', ['prisma', 'migrate', 'deploy'], { DATABASE_URL: benchUrl })
  if (deploy.code !== 0) {
    process.stderr.write(`! npx prisma migrate deploy failed (exit ${deploy.code}):\n${deploy.out}\n`)
    return 1
  }
  log(`Migrations applied (npx prisma migrate deploy) in ${((performance.now() - t) / 1000).toFixed(1)} s`)

  // Separate pools: the API's (shared with Prisma, as src/client.ts would) and the raw baseline's.
  const apiPool = new pg.Pool({ connectionString: benchUrl, max: 4 })
  const rawPool = new pg.Pool({ connectionString: benchUrl, max: 4 })
  const prisma = new PrismaClient({ adapter: new PrismaPg(apiPool) })
  const ctx: BenchContext = { opts, size, url: benchUrl, apiPool, rawPool, prisma, fast: createApi({ prisma, pool: apiPool }), viaPrisma: createApi(prisma), rows: [], log }
  const pgVersion = ((await rawPool.query('SHOW server_version')).rows[0] as { server_version: string }).server_version
  let exit = 0

  try {
    // --only=coalesce: one self-contained scenario (it builds its own rows), no dataset.
    if (opts.only === 'coalesce') await coalescedWebhooks(ctx)
    else {
    log('Building dataset:')
    t = performance.now()
    const client = await rawPool.connect()
    try {
      await buildDataset(client, size, log)
    } finally {
      client.release()
    }
    log(`Dataset built in ${((performance.now() - t) / 1000).toFixed(1)} s`)

    // Single-call latency (c-f) first, on the dataset exactly as built.
    log(`\nLatency (${opts.iterations} iterations after 20 warm-up, paths interleaved):`)
    const { example } = await webhookLatency(ctx)
    await campaignPerformanceLatency(ctx)
    await audienceLatency(ctx)
    const subjects = await historyLatency(ctx)
    if (full || opts.explain) {
      const violations = await checkPlans(ctx, example, subjects)
      if (violations.length) exit = 1
    }
    // Concurrent load, then the bulk paths (fan-out grows messages, import subscribers).
    await webhookStorm(ctx)
    await coalescedWebhooks(ctx)
    await senderQueue(ctx)
    await fanOut(ctx)
    await bulkImport(ctx)
    // Last: it turns delivered messages into read ones.
    await liveIndex(ctx)
    // On its own primary + standby (not the bench database's server).
    await replicaScenario({ duration: opts.duration, log, rows: ctx.rows })
    }
  } finally {
    await prisma.$disconnect()
    await rawPool.end()
    await apiPool.end().catch(() => {})
  }

  if (!opts.skipMigrations && !opts.only) await migrationCommands(ctx, serverUrl)
  await dropDatabase(serverUrl, BENCH_DB)

  const report: Report = { startedAt: started.toISOString(), finishedAt: new Date().toISOString(), scale: opts.scale, size, iterations: opts.iterations, duration: opts.duration, machine: machine(pgVersion), results: ctx.rows }
  log(`\n${markdown(report)}`)
  const stamp = writeReport(path.join(projectRoot(), '.bench'), report)
  log(`Results written to .bench/latest.json and .bench/latest.md (and run-${stamp}.*)`)
  return exit
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`! bench failed: ${maskSecrets(err instanceof Error ? (err.stack ?? err.message) : String(err))}\n`)
    process.exit(1)
  },
)
