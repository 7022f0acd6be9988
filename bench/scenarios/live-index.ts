// j. An index added to the live `messages` table (the whole dataset) through
// `npm run migrate` while 8 webhook sessions write: the longest webhook wait with the
// migration written the way the lint asks (`-- watify:no-transaction`, CREATE INDEX
// CONCURRENTLY), against the same index in a plain transactional migration (the limit:
// what the lint refuses). Each index is rolled back with `npm run migrate:rollback`.
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

import type { ApiDb } from '../../src/api/index.ts'
import { recordDeliveryStatus } from '../../src/api/index.ts'
import { projectRoot } from '../../src/db/config.ts'
import { type BenchContext, concurrently, percentile, runTimed } from '../harness.ts'

const SESSIONS = 8
const INDEX = 'messages_bench_read_at_idx'

const FORMS = {
  concurrent: {
    label: 'CREATE INDEX CONCURRENTLY, -- watify:no-transaction',
    up: `-- watify:no-transaction\nSET lock_timeout = '5s';\nCREATE INDEX CONCURRENTLY IF NOT EXISTS ${INDEX} ON messages (read_at);\n`,
    down: `-- watify:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS ${INDEX};\n`,
  },
  plain: {
    label: 'plain CREATE INDEX in the migration transaction',
    up: `SET lock_timeout = '5s';\nCREATE INDEX ${INDEX} ON messages (read_at);\n`,
    down: `DROP INDEX ${INDEX};\n`,
  },
} as const

export async function liveIndex(ctx: BenchContext): Promise<void> {
  const op = 'j. index on live messages'
  const count = Number((await ctx.rawPool.query('SELECT count(*) AS n FROM messages')).rows[0].n)
  ctx.log(`\nj. an index on messages (${count} rows) through npm run migrate while ${SESSIONS} webhook sessions write (read receipts, one per call):`)
  // Delivered messages, shuffled: each webhook moves one to `read` (a real row change).
  const targets = (await ctx.rawPool.query(`SELECT whatsapp_message_id AS w FROM messages WHERE status = 'delivered' ORDER BY md5(id::text)`)).rows.map((r: { w: string }) => r.w)
  let next = 0
  const at = new Date()
  const results: Record<string, { maxMs: number; p99: number; migrationMs: number; writes: number } | null> = {}
  for (const form of ['concurrent', 'plain'] as const) {
    const root = mkdtempSync(path.join(tmpdir(), 'watify-bench-index-'))
    const dir = path.join(root, 'migrations')
    cpSync(path.join(projectRoot(), 'prisma', 'migrations'), dir, { recursive: true })
    mkdirSync(path.join(dir, '999_bench_live_index'))
    writeFileSync(path.join(dir, '999_bench_live_index', 'migration.sql'), FORMS[form].up)
    writeFileSync(path.join(dir, '999_bench_live_index', 'down.sql'), FORMS[form].down)
    const env = { DATABASE_URL: ctx.url, MIGRATIONS_DIR: dir }
    try {
      const waits: number[] = []
      let done = false
      const writers = concurrently(ctx.url, SESSIONS, 3600, async (_w, pool) => {
        if (done || next >= targets.length) return 0
        const db: ApiDb = { prisma: ctx.prisma, pool }
        const t = performance.now()
        await recordDeliveryStatus(db, targets[next++]!, 'READ', at)
        waits.push(performance.now() - t)
        return 1
      })
      await new Promise((r) => setTimeout(r, 1000))
      const m = await runTimed('npm', ['run', '--silent', 'migrate'], env)
      await new Promise((r) => setTimeout(r, 1000))
      done = true
      await writers
      if (m.code !== 0) {
        ctx.log(`  ! npm run migrate (${form}) exited ${m.code}:\n${m.out.trimEnd()}`)
        results[form] = null
        continue
      }
      waits.sort((a, b) => a - b)
      results[form] = { maxMs: waits.at(-1) ?? NaN, p99: percentile(waits, 99), migrationMs: m.ms, writes: waits.length }
      ctx.log(`  ${FORMS[form].label}: migration ${(m.ms / 1000).toFixed(1)} s; ${waits.length} webhooks, longest wait ${waits.at(-1)!.toFixed(0)} ms, p99 ${percentile(waits, 99).toFixed(1)} ms`)
      const r = await runTimed('npm', ['run', '--silent', 'migrate:rollback'], env)
      if (r.code !== 0) throw new Error(`npm run migrate:rollback (${form}) exited ${r.code}:\n${r.out}`)
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  }
  const c = results.concurrent
  const p = results.plain
  if (!c) {
    ctx.rows.push({ op, path: FORMS.concurrent.label, metric: 'longest wait ms', value: NaN, note: 'npm run migrate failed' })
    return
  }
  ctx.rows.push({
    op,
    path: `${FORMS.concurrent.label}, ${SESSIONS} webhook sessions`,
    metric: 'longest wait ms',
    value: c.maxMs,
    p99: c.p99,
    ...(p ? { raw: p.maxMs, rawP99: p.p99, ratio: c.maxMs / p.maxMs } : {}),
    target: '< 1,000 ms',
    ok: c.maxMs < 1000,
    note: `limit: the ${FORMS.plain.label} (what the lint refuses); migration ${(c.migrationMs / 1000).toFixed(1)} s${p ? ` vs ${(p.migrationMs / 1000).toFixed(1)} s` : ''}; ${count} messages`,
  })
}
