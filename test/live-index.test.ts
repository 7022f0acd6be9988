// Migrations that must not stop the service: an index added to a live,
// seeded `messages` table while webhook-style writes run, through the
// project's own commands (`-- watify:no-transaction`, CREATE INDEX
// CONCURRENTLY); a concurrent build that fails leaves an INVALID index that
// status reports and the retry rebuilds; the same change written to block
// writes is refused by the lint.
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { spawn } from 'node:child_process'
import { createTestDatabase, query } from './helpers/db.ts'
import { copyOfRealMigrations, historyOf, REAL_MIGRATIONS, seededTemplate } from './helpers/seeded.ts'
import { cleanEnv, collect, ROOT, runCli } from './fixtures/cli.ts'
import { splitStatements } from '../src/sql/split.ts'

type Seeded = Awaited<ReturnType<typeof seededTemplate>>

const FOLDERS = readdirSync(REAL_MIGRATIONS).filter((d) => existsSync(path.join(REAL_MIGRATIONS, d, 'migration.sql'))).sort()

/** Webhook-like writers: each updates random messages one per transaction, recording each call's latency. */
async function webhooks(url: string, workers: number, until: () => boolean): Promise<number[]> {
  const ids = (await query<{ id: number }>(url, 'SELECT id FROM messages ORDER BY id')).map((r) => r.id)
  const latencies: number[] = []
  await Promise.all(
    Array.from({ length: workers }, async () => {
      const c = new pg.Client({ connectionString: url, application_name: 'webhook' })
      await c.connect()
      try {
        while (!until()) {
          const id = ids[Math.floor(Math.random() * ids.length)]!
          const t0 = performance.now()
          await c.query('UPDATE messages SET updated_at = clock_timestamp() WHERE id = $1', [id])
          latencies.push(performance.now() - t0)
        }
      } finally {
        await c.end()
      }
    }),
  )
  return latencies
}

/** `npm run migrate` while webhook writers (default 4) run: it succeeds, and no write waits 1 s. Returns the longest wait (ms). */
async function migrateWhileWebhooksWrite(url: string, migrationsDir: string, workers = 4): Promise<number> {
  let done = false
  const writers = webhooks(url, workers, () => done)
  await new Promise((r) => setTimeout(r, 300))
  const m = await runCli(['migrate'], { url, migrationsDir })
  await new Promise((r) => setTimeout(r, 300))
  done = true
  const latencies = await writers
  assert.equal(m.code, 0, m.stderr)
  assert.ok(latencies.length > 50, `${latencies.length} webhook writes ran`)
  assert.ok(Math.max(...latencies) < 1000, `the longest webhook write waited ${Math.round(Math.max(...latencies))}ms`)
  return Math.max(...latencies)
}

describe('index on a live table', () => {
  let seeded: Seeded
  before(async () => {
    seeded = await seededTemplate('live_index', ['--subscribers=6000', '--messages=40000'])
  })
  after(async () => {
    await seeded.drop()
  })

  test('CREATE INDEX CONCURRENTLY through npm run migrate while webhooks write: none waits 1 s; the index is valid', async () => {
    const db = await seeded.copy()
    const fx = copyOfRealMigrations()
    try {
      const dir = path.join(fx.dir, '999_messages_read_at_index')
      mkdirSync(dir)
      // messages is partitioned (010), and PostgreSQL builds no index CONCURRENTLY on a partitioned
      // table: the index goes on the table ONLY (invalid until every partition has its own), then
      // each partition's is built CONCURRENTLY and attached (docs/partitioning.md).
      const parts = (await query<{ name: string }>(db.url, `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'messages'::regclass ORDER BY 1`)).map((r) => r.name)
      assert.ok(parts.length >= 3, parts.join(', '))
      writeFileSync(path.join(dir, 'migration.sql'), [
        '-- watify:no-transaction',
        'CREATE INDEX IF NOT EXISTS messages_read_at_idx ON ONLY messages (read_at);',
        ...parts.flatMap((p) => [`CREATE INDEX CONCURRENTLY IF NOT EXISTS ${p}_read_at_idx ON ${p} (read_at);`, `ALTER INDEX messages_read_at_idx ATTACH PARTITION ${p}_read_at_idx;`]),
      ].join('\n') + '\n')
      writeFileSync(path.join(dir, 'down.sql'), '-- watify:no-transaction\nDROP INDEX IF EXISTS messages_read_at_idx;\n')
      await migrateWhileWebhooksWrite(db.url, fx.dir)
      assert.deepEqual(await query(db.url, `SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 'messages_read_at_idx'::regclass`), [{ valid: true }])
      assert.equal((await historyOf(db.url)).at(-1), '999_messages_read_at_index applied')
      // Its down.sql runs outside a transaction too, alone, and needs no flag: it only drops an index.
      const r = await runCli(['migrate:rollback'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(await query(db.url, `SELECT to_regclass('messages_read_at_idx') AS i`), [{ i: null }])
    } finally {
      fx.remove()
    }
  })

  test('the project\'s own 009_broadcast_indexes, applied while webhooks write: none waits 1 s; every index valid, the replaced ones gone', async () => {
    const db = await seeded.copy()
    // Back to 008 (neither 010's down nor 009's loses data: no flag needed), then 009 and 010
    // again under load.
    const down = await runCli(['migrate:rollback', '--to=008_broadcast_hot_path'], { url: db.url, migrationsDir: REAL_MIGRATIONS })
    assert.equal(down.code, 0, down.stderr)
    assert.deepEqual((await historyOf(db.url)).slice(-2).sort(), ['009_broadcast_indexes rolled back', '010_partition_messages rolled back'])
    await migrateWhileWebhooksWrite(db.url, REAL_MIGRATIONS)
    assert.deepEqual(
      await query(db.url, `SELECT c.relname AS index, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                            WHERE c.relname IN ('messages_campaign_id_subscriber_id_key', 'messages_queue_idx', 'messages_campaign_id_status_idx', 'subscribers_tags_idx') ORDER BY 1`),
      [{ index: 'messages_campaign_id_subscriber_id_key', valid: true }, { index: 'messages_queue_idx', valid: true }],
    )
    assert.deepEqual(await query(db.url, `SELECT attnotnull AS not_null FROM pg_attribute WHERE attrelid = 'subscribers'::regclass AND attname = 'tags'`), [{ not_null: true }])
    assert.deepEqual(await query(db.url, `SELECT conname FROM pg_constraint WHERE conname = 'subscribers_tags_not_null'`), [])
    assert.equal((await historyOf(db.url)).at(-2), '009_broadcast_indexes applied')
    assert.equal((await historyOf(db.url)).at(-1), '010_partition_messages applied')
  })

  test('the project\'s own 010_partition_messages (the conversion), applied while 8 webhook sessions write: none waits 1 s; every row kept', async (t) => {
    const db = await seeded.copy()
    const n = (await query<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM messages'))[0]!.n
    const down = await runCli(['migrate:rollback'], { url: db.url, migrationsDir: REAL_MIGRATIONS })
    assert.equal(down.code, 0, down.stderr)
    assert.deepEqual(await query(db.url, `SELECT relkind::text AS k, (SELECT count(*)::int FROM messages) AS n FROM pg_class WHERE oid = 'messages'::regclass`), [{ k: 'r', n }])
    const longest = await migrateWhileWebhooksWrite(db.url, REAL_MIGRATIONS, 8)
    t.diagnostic(`conversion of ${n} messages: longest webhook wait ${Math.round(longest)}ms`)
    assert.deepEqual(await query(db.url, `SELECT relkind::text AS k, (SELECT count(*)::int FROM messages) AS n FROM pg_class WHERE oid = 'messages'::regclass`), [{ k: 'p', n }])
    assert.deepEqual(await query(db.url, `SELECT (SELECT count(*)::int FROM messages WHERE whatsapp_message_id IS NOT NULL) = (SELECT count(*)::int FROM message_whatsapp_ids) AS same`), [{ same: true }])
  })

  test('a concurrent build that fails: recorded failed with the statement, INVALID index shown by status (exit 3), rebuilt by the retry', async () => {
    const db = await seeded.copy()
    const fx = copyOfRealMigrations()
    try {
      const dir = path.join(fx.dir, '999_unique_body')
      mkdirSync(dir)
      const file = path.relative(ROOT, path.join(dir, 'migration.sql'))
      // On the first partition (a plain table: messages itself is partitioned, 010, and takes no index CONCURRENTLY).
      writeFileSync(path.join(dir, 'migration.sql'), '-- watify:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS messages_body_key ON messages_p0 (body);\n')
      writeFileSync(path.join(dir, 'down.sql'), '-- watify:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS messages_body_key;\n')
      const failed = await runCli(['migrate'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(failed.code, 1, failed.stderr)
      assert.match(failed.err[0]!, /^Error: Migration `999_unique_body` failed at statement 1 of 1: could not create unique index "messages_body_key"/)
      assert.ok(failed.err.includes(`Failing statement (${file}, line 2):`), failed.stderr)
      assert.ok(failed.err.includes('None of its statements was applied.'), failed.stderr)
      assert.equal((await historyOf(db.url)).at(-1), '999_unique_body failed')
      const s = await runCli(['migrate:status'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(s.code, 3)
      assert.ok(s.out.includes('Invalid index: `messages_body_key` left by a concurrent build that failed (it slows writes and serves no query); the migration that builds it drops and rebuilds it when it runs again'), s.stdout)
      assert.ok(s.out.includes('Failed: `999_unique_body` stops deploys (it runs outside a transaction; none of its statements was applied). Fix the cause (it runs again from the top), then `npx prisma migrate resolve --rolled-back 999_unique_body` and `npm run migrate`'), s.stdout)

      // Fix the data, mark the failed attempt rolled back (what `npx prisma migrate resolve
      // --rolled-back` writes; that command reads prisma/migrations, not this copy), run again.
      await query(db.url, `UPDATE messages SET body = body || ' #' || id WHERE body IS NOT NULL`)
      await query(db.url, `UPDATE _prisma_migrations SET rolled_back_at = now() WHERE migration_name = '999_unique_body' AND finished_at IS NULL AND rolled_back_at IS NULL`)
      const retry = await runCli(['migrate'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(retry.code, 0, retry.stderr)
      assert.ok(retry.out.includes('Dropped: invalid index messages_body_key, left by a concurrent build that failed; building it again'), retry.stdout)
      assert.deepEqual(await query(db.url, `SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 'messages_body_key'::regclass`), [{ valid: true }])
      const ok = await runCli(['migrate:status'], { url: db.url, migrationsDir: fx.dir })
      assert.equal(ok.code, 0, ok.stdout)
    } finally {
      fx.remove()
    }
  })

  test('the project\'s 009 on data it cannot index (a message sent twice): fails at the unique index naming the key, status tells what stayed applied, the retry rebuilds', async () => {
    const db = await seeded.copy()
    // Back to 008: 010 keeps the rule in a lookup table, which would refuse the duplicate below.
    const down = await runCli(['migrate:rollback', '--to=008_broadcast_hot_path'], { url: db.url, migrationsDir: REAL_MIGRATIONS })
    assert.equal(down.code, 0, down.stderr)
    // What the unique rule exists to prevent, written while it was not there: one subscriber twice in one campaign.
    const [dup] = await query<{ id: string; campaign_id: number; subscriber_id: number }>(db.url, `
      INSERT INTO messages (campaign_id, subscriber_id, group_id, sender_user_id, direction, type, body, status)
      SELECT campaign_id, subscriber_id, group_id, sender_user_id, direction, type, body, 'queued' FROM messages
       WHERE campaign_id IS NOT NULL AND subscriber_id IS NOT NULL AND direction = 'outbound' ORDER BY id LIMIT 1
      RETURNING id::text, campaign_id, subscriber_id`)
    const sqlPath = path.join(REAL_MIGRATIONS, '009_broadcast_indexes', 'migration.sql')
    const sql = readFileSync(sqlPath, 'utf8')
    const statements = splitStatements(sql)
    const at = statements.findIndex((st) => st.text.startsWith('CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS messages_campaign_id_subscriber_id_key'))
    assert.ok(at > 0)
    const file = path.relative(ROOT, sqlPath)
    const failed = await runCli(['migrate'], { url: db.url, migrationsDir: REAL_MIGRATIONS })
    assert.equal(failed.code, 1, failed.stderr)
    assert.deepEqual(failed.err.slice(0, 3), [
      `Error: Migration \`009_broadcast_indexes\` failed at statement ${at + 1} of ${statements.length}: could not create unique index "messages_campaign_id_subscriber_id_key" (Key (campaign_id, subscriber_id)=(${dup!.campaign_id}, ${dup!.subscriber_id}) is duplicated.)`,
      `Failing statement (${file}, line ${sql.slice(0, statements[at]!.start).split('\n').length}):`,
      `    ${statements[at]!.text}`,
    ])
    assert.ok(failed.err.includes(`Statements 1 to ${at} of ${statements.length} were applied and stay: it runs outside a transaction.`), failed.stderr)
    // What stayed is what the output says: the NOT NULL (statements before) is there, the old index (dropped after) too.
    assert.deepEqual(await query(db.url, `SELECT attnotnull AS not_null FROM pg_attribute WHERE attrelid = 'subscribers'::regclass AND attname = 'tags'`), [{ not_null: true }])
    assert.deepEqual(await query(db.url, `SELECT to_regclass('messages_campaign_id_status_idx')::text AS old, to_regclass('subscribers_tags_idx')::text AS gin`), [{ old: 'messages_campaign_id_status_idx', gin: null }])
    const s = await runCli(['migrate:status'], { url: db.url, migrationsDir: REAL_MIGRATIONS })
    assert.equal(s.code, 3)
    assert.ok(s.out.includes(`Failed: \`009_broadcast_indexes\` stops deploys (it runs outside a transaction: statements 1 to ${at} of ${statements.length} stay applied). Fix the cause (it runs again from the top), then \`npx prisma migrate resolve --rolled-back 009_broadcast_indexes\` and \`npm run migrate\``), s.stdout)

    await query(db.url, `DELETE FROM messages WHERE id = $1`, [dup!.id])
    await query(db.url, `UPDATE _prisma_migrations SET rolled_back_at = now() WHERE migration_name = '009_broadcast_indexes' AND finished_at IS NULL AND rolled_back_at IS NULL`)
    const retry = await runCli(['migrate'], { url: db.url, migrationsDir: REAL_MIGRATIONS })
    assert.equal(retry.code, 0, retry.stderr)
    assert.ok(retry.out.includes('Dropped: invalid index messages_campaign_id_subscriber_id_key, left by a concurrent build that failed; building it again'), retry.stdout)
    const ok = await runCli(['migrate:status'], { url: db.url, migrationsDir: REAL_MIGRATIONS })
    assert.equal(ok.code, 0, ok.stdout)
    assert.deepEqual(await query(db.url, `SELECT to_regclass('messages_campaign_id_status_idx') AS old`), [{ old: null }])
  })

  test('deploys at once, ours and Prisma\'s, on a new database: each migration applied once, no deadlock with 009\'s concurrent builds', async () => {
    // Each waits for the migration lock by polling: a session blocked in pg_advisory_lock
    // holds a snapshot, and CREATE INDEX CONCURRENTLY in the session holding the lock waits
    // for it (that deadlocked before).
    const db = await createTestDatabase('deploys_at_once')
    try {
      const prismaDeploy = () => collect(spawn('npx', ['prisma', 'migrate', 'deploy'], { cwd: ROOT, env: cleanEnv({ DATABASE_URL: db.url }), stdio: ['ignore', 'pipe', 'pipe'] }))
      const runs = await Promise.all([runCli(['migrate'], { url: db.url }), prismaDeploy(), runCli(['migrate'], { url: db.url }), prismaDeploy()])
      for (const r of runs) assert.equal(r.code, 0, r.stdout + r.stderr)
      const rows = await query<{ migration_name: string; n: number; finished: number }>(db.url, `SELECT migration_name, count(*)::int AS n, count(finished_at)::int AS finished FROM _prisma_migrations GROUP BY 1 ORDER BY 1`)
      assert.deepEqual(rows, FOLDERS.map((m) => ({ migration_name: m, n: 1, finished: 1 })))
      assert.deepEqual(await query(db.url, `SELECT count(*)::int AS invalid FROM pg_index WHERE NOT indisvalid`), [{ invalid: 0 }])
    } finally {
      await db.drop()
    }
  })

  test('the same index written to block writes (no CONCURRENTLY) is refused by migrate:lint', async () => {
    const fx = copyOfRealMigrations()
    try {
      const dir = path.join(fx.dir, '999_blocking_index')
      mkdirSync(dir)
      writeFileSync(path.join(dir, 'migration.sql'), "SET lock_timeout = '5s';\nCREATE INDEX messages_read_at_idx ON messages (read_at);\n")
      writeFileSync(path.join(dir, 'down.sql'), 'DROP INDEX messages_read_at_idx;\n')
      const r = await runCli(['migrate:lint', '--offline'], { migrationsDir: fx.dir })
      assert.notEqual(r.code, 0, r.stdout)
      assert.match(r.stdout + r.stderr, /999_blocking_index/)
      assert.match(r.stdout + r.stderr, /require-concurrent-index-creation/)
    } finally {
      fx.remove()
    }
  })
})
