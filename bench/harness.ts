// What every scenario uses: the context (pools, API bindings, report rows), timing
// helpers, concurrent workers, child processes, the bench databases and plan checks.
import { spawn } from 'node:child_process'

import pg from 'pg'

import type { WatifyApi } from '../src/api/index.ts'
import { projectRoot } from '../src/db/config.ts'
import type { PrismaClient } from '../src/generated/prisma/client.ts'
import type { BenchOptions } from './args.ts'
import type { DatasetSize } from './dataset.ts'
import type { Row } from './report.ts'

export interface BenchContext {
  opts: BenchOptions
  size: DatasetSize
  /** The bench database's URL. */
  url: string
  /** The API's pool (shared with Prisma, as src/client.ts does) and the raw baseline's. */
  apiPool: pg.Pool
  rawPool: pg.Pool
  prisma: PrismaClient
  /** The API on the pool fast path, and through Prisma alone. */
  fast: WatifyApi
  viaPrisma: WatifyApi
  rows: Row[]
  log: (line: string) => void
}

import { percentile } from './stats.ts'

export { median, percentile } from './stats.ts'

/** The same statement straight through pg on the raw pool (named: prepared once, like the API's). */
export async function rawRows(ctx: BenchContext, stmt: { name: string; text: string }, params: unknown[]): Promise<unknown[]> {
  return (await ctx.rawPool.query({ name: `raw_${stmt.name}`, text: stmt.text, values: params })).rows
}

export type Call = (i: number) => Promise<unknown>

/**
 * Latency: every path called in turn within each iteration (order rotating), so
 * background noise (autovacuum, checkpoints, the other core) falls on all alike.
 */
export async function latency(ctx: BenchContext, op: string, paths: Record<string, Call>, raw: Call): Promise<void> {
  const all: Record<string, Call> = { raw, ...paths }
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(all).map((k) => [k, []]))
  const warmup = 20
  const entries = Object.entries(all)
  for (let i = 0; i < warmup + ctx.opts.iterations; i++) {
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
    ctx.rows.push({ op, path: name, metric: 'p50 ms', value: s.p50, p99: s.p99, raw: r.p50, rawP99: r.p99, ratio, target: '<= 1.2x', ok: ratio <= 1.2 })
  }
  ctx.log(`  ${op}: raw p50 ${r.p50.toFixed(3)} ms / p99 ${r.p99.toFixed(3)} ms; ` + Object.keys(paths).map((k) => `${k} p50 ${stat(k).p50.toFixed(3)} ms`).join('; '))
}

/** Times one bulk call that returns its row count; logs and returns rows/s. */
export async function throughput(ctx: BenchContext, label: string, fn: () => Promise<number>): Promise<{ rows: number; rate: number }> {
  const t0 = performance.now()
  const count = await fn()
  const s = (performance.now() - t0) / 1000
  ctx.log(`  ${label}: ${count} rows in ${s.toFixed(2)} s = ${Math.round(count / s)} rows/s`)
  return { rows: count, rate: count / s }
}

/**
 * `sessions` concurrent workers, each on its own connection (its own pool of one), each
 * calling `step(worker, pool)` until `seconds` pass or a step returns 0 (no work left).
 * Returns the units the steps returned in total, per second of the run.
 */
export async function concurrently(
  url: string,
  sessions: number,
  seconds: number,
  step: (worker: number, pool: pg.Pool) => Promise<number>,
): Promise<{ units: number; seconds: number; rate: number }> {
  const pools = Array.from({ length: sessions }, () => new pg.Pool({ connectionString: url, max: 1 }))
  try {
    // Connect (and warm up) before the clock starts.
    await Promise.all(pools.map((p) => p.query('SELECT 1')))
    const t0 = performance.now()
    const deadline = t0 + seconds * 1000
    const counts = await Promise.all(
      pools.map(async (pool, w) => {
        let n = 0
        while (performance.now() < deadline) {
          const k = await step(w, pool)
          if (k === 0) break
          n += k
        }
        return n
      }),
    )
    const elapsed = (performance.now() - t0) / 1000
    const units = counts.reduce((a, b) => a + b, 0)
    return { units, seconds: elapsed, rate: units / elapsed }
  } finally {
    await Promise.all(pools.map((p) => p.end()))
  }
}

/** Runs fn with the user triggers of `table` disabled (the limit runs), re-enabling them whatever happens. */
export async function withUserTriggersOff<T>(pool: pg.Pool, table: string, fn: () => Promise<T>): Promise<T> {
  await pool.query(`ALTER TABLE ${table} DISABLE TRIGGER USER`)
  try {
    return await fn()
  } finally {
    await pool.query(`ALTER TABLE ${table} ENABLE TRIGGER USER`)
  }
}

// ---------------------------------------------------------------------------
// Child processes (migrations and g)

export function runTimed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; code: number | null; out: string }> {
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

// ---------------------------------------------------------------------------
// Databases

export function withDatabase(url: string, database: string): string {
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

export async function recreateDatabase(serverUrl: string, name: string): Promise<void> {
  await admin(serverUrl, async (c) => {
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    await c.query(`CREATE DATABASE "${name}" ENCODING 'UTF8' TEMPLATE template0`)
  })
}

export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
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

/** Prints the plan and returns its sequential scans of messages/subscribers. */
export async function explain(ctx: BenchContext, label: string, text: string, params: unknown[]): Promise<string[]> {
  const plain = await ctx.rawPool.query(`EXPLAIN ${text}`, params)
  ctx.log(`\n-- ${label}\n${plain.rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n')}`)
  const json = await ctx.rawPool.query(`EXPLAIN (FORMAT JSON) ${text}`, params)
  const plan = (json.rows[0] as { 'QUERY PLAN': Array<{ Plan: PlanNode }> })['QUERY PLAN'][0]!.Plan
  return seqScans(plan).map((t) => `${label}: Seq Scan on ${t}`)
}
