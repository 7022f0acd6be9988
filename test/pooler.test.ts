// The client and the migration commands behind a real PgBouncer 1.18 in
// transaction mode (pool size 4), started by this file on a free loopback port.
// Skipped, with the reason printed, when pgbouncer is not installed.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'

import pg from 'pg'

import { buildDataset, datasetSize } from '../bench/dataset.ts'
import type { LoadResult } from '../bench/pooler-load.ts'
import { collect, ROOT, runCli, shownUrl } from './fixtures/cli.ts'
import { createTestDatabase, query, serverUrl, type TestDatabase } from './helpers/db.ts'
import { migrationFolders } from './helpers/migrations.ts'
import { pgbouncerSkipReason, startPgBouncer, type PgBouncer } from './helpers/pgbouncer.ts'
import { PRISMA_BIN, run } from './helpers/prisma.ts'

const skip = pgbouncerSkipReason()
if (skip) process.stdout.write(`# SKIP pooler tests: ${skip}\n`)

function flagged(url: string): string {
  const u = new URL(url)
  u.searchParams.set('pgbouncer', 'true')
  return u.toString()
}

describe('behind PgBouncer (transaction mode)', { skip }, () => {
  let bouncer: PgBouncer
  before(async () => {
    bouncer = await startPgBouncer(await serverUrl(), { poolSize: 4 })
  })
  after(async () => {
    await bouncer?.stop()
  })

  describe('client: 40 workers, 1,200 calls', () => {
    let db: TestDatabase
    before(async () => {
      db = await createTestDatabase('pooler_client')
      const r = await runCli(['migrate'], { url: db.url })
      assert.equal(r.code, 0, r.stderr)
      const pool = new pg.Pool({ connectionString: db.url, max: 1 })
      const c = await pool.connect()
      await buildDataset(c, datasetSize(0.01), () => {})
      c.release()
      await pool.end()
    })
    after(async () => {
      await db?.drop()
    })

    const load = async (url: string, calls = 1200): Promise<LoadResult> => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/fixtures/pooler-client.ts')], {
        cwd: ROOT,
        env: { ...process.env, DATABASE_URL: url, LOAD_CALLS: String(calls), NODE_ENV: 'test' },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      const r = await collect(child)
      assert.equal(r.code, 0, `load child failed:\n${r.stderr}\n${bouncer.log().slice(-2000)}`)
      return JSON.parse(r.out.at(-1)!) as LoadResult
    }

    test('with pgbouncer=true: every call succeeds and every webhook reached its row', async () => {
      const r = await load(flagged(bouncer.pooled(db.url)))
      assert.deepEqual(r.failures, {})
      assert.equal(r.ok, 1200)
      const rows = await query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM messages WHERE whatsapp_message_id = ANY($1) AND status = 'delivered' AND delivered_at IS NOT NULL`, [r.deliveredIds])
      assert.equal(rows[0]!.n, 400)
    })

    test('without the flag the named statements collide, and the error names the fix', async () => {
      const r = await load(bouncer.pooled(db.url), 600)
      assert.ok(r.failed > 0, 'named statements through a transaction pooler were expected to collide')
      for (const key of Object.keys(r.failures)) assert.match(key, /^prepared statement "watify_[a-z_]+_vN" (already exists|does not exist)$/)
    })

    test('a direct URL keeps named statements and succeeds', async () => {
      const r = await load(db.url, 300)
      assert.deepEqual(r.failures, {})
      assert.equal(r.ok, 300)
    })
  })

  describe('migrations', () => {
    const migrations = migrationFolders()
    const refusal = (port: number) => [
      `Error: \`127.0.0.1:${port}\` is a connection pooler, not PostgreSQL itself: the migration lock (session-level advisory lock \`72707369\`) cannot be held through it, so nothing was changed.`,
      'Hint: Set DIRECT_DATABASE_URL to a direct connection to PostgreSQL for schema changes (keep DATABASE_URL on the pooler for the app), then run the command again',
    ]

    test('5 concurrent `migrate` runs given only the pooled URL all refuse (exit 2) and change nothing', async () => {
      const db = await createTestDatabase('pooler_refuse')
      try {
        const pooled = bouncer.pooled(db.url)
        const runs = await Promise.all(Array.from({ length: 5 }, () => runCli(['migrate'], { url: pooled })))
        for (const r of runs) {
          assert.equal(r.code, 2, r.stderr)
          assert.deepEqual(r.err, refusal(bouncer.port))
          assert.deepEqual(r.out, [`Database: ${shownUrl(pooled)} (DATABASE_URL from the environment)`])
        }
        const tables = await query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`)
        assert.equal(tables[0]!.n, 0)
      } finally {
        await db.drop()
      }
    })

    test('5 concurrent `migrate` runs with DIRECT_DATABASE_URL apply each migration exactly once', async () => {
      const db = await createTestDatabase('pooler_direct')
      try {
        const pooled = bouncer.pooled(db.url)
        const runs = await Promise.all(Array.from({ length: 5 }, () => runCli(['migrate'], { url: pooled, env: { DIRECT_DATABASE_URL: db.url } })))
        for (const r of runs) {
          assert.equal(r.code, 0, r.stderr)
          assert.equal(r.out[0], `Database: ${shownUrl(db.url)} (DIRECT_DATABASE_URL from the environment)`)
          assert.match(r.out.at(-1)!, new RegExp(`^Up to date: ${migrations.length} migrations applied`))
        }
        // One run applied everything; the four others waited for the lock, then found nothing pending.
        assert.equal(runs.filter((r) => r.out.at(-1)!.includes('just now')).length, 1)
        const rows = await query<{ migration_name: string; n: number; finished: number }>(
          db.url,
          `SELECT migration_name, count(*)::int AS n, count(finished_at)::int AS finished FROM _prisma_migrations GROUP BY 1 ORDER BY 1`,
        )
        assert.deepEqual(rows, migrations.map((m) => ({ migration_name: m, n: 1, finished: 1 })))
      } finally {
        await db.drop()
      }
    })

    test('rollback and reset given only the pooled URL refuse (exit 2); seeded data and history stay', async () => {
      const db = await createTestDatabase('pooler_rollback')
      try {
        assert.equal((await runCli(['migrate'], { url: db.url })).code, 0)
        await query(db.url, `INSERT INTO users (email, name, password_hash, role) VALUES ('keep@watify.test', 'Keep', 'scrypt$16384$8$1$c2FsdHNhbHQ=$aGFzaGhhc2g=', 'manager')`)
        const pooled = bouncer.pooled(db.url)
        for (const args of [['migrate:rollback'], ['migrate:reset', '--force']]) {
          const r = await runCli(args, { url: pooled })
          assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
          assert.deepEqual(r.err.slice(-2), refusal(bouncer.port), args.join(' '))
        }
        assert.equal((await query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL`))[0]!.n, migrations.length)
        assert.equal((await query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM users WHERE email = 'keep@watify.test'`))[0]!.n, 1)
      } finally {
        await db.drop()
      }
    })

    test('the Prisma CLI (prisma.config.ts) migrates through DIRECT_DATABASE_URL, not the pooled DATABASE_URL', async () => {
      const db = await createTestDatabase('pooler_prisma')
      try {
        // DATABASE_URL names a database that does not exist: only the direct URL can have worked.
        const r = await run(PRISMA_BIN, ['migrate', 'deploy'], { env: { DATABASE_URL: bouncer.pooled(db.url).replace(db.name, `${db.name}_nope`), DIRECT_DATABASE_URL: db.url } })
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`)
        const rows = await query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL`)
        assert.equal(rows[0]!.n, migrations.length)
      } finally {
        await db.drop()
      }
    })
  })
})
