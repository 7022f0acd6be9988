// Seeds: the real entry point (`tsx seeds/index.ts`) as a child process, run twice.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, test } from 'node:test'
import { promisify } from 'node:util'

import { createTestDatabase, query, type TestDatabase } from './helpers/db.ts'
import { applyAllMigrations } from './helpers/migrations.ts'
import { projectDir } from './helpers/schema-stages.ts'

const run = promisify(execFile)
let db: TestDatabase

before(async () => {
  db = await createTestDatabase('client_seeds')
  await applyAllMigrations(db.url)
})

after(async () => {
  await db?.drop()
})

const TABLES = ['users', 'whatsapp_groups', 'group_admins', 'subscribers', 'group_members', 'messages', 'campaigns', 'campaign_groups']

/** Row count and a digest of every row (updated_at excluded: it records the second run). */
async function state(): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const t of TABLES) {
    const [row] = await query<{ n: string; digest: string }>(
      db.url,
      `SELECT count(*) AS n, md5(coalesce(string_agg((to_jsonb(x) - 'updated_at')::text, '|' ORDER BY (to_jsonb(x) - 'updated_at')::text), '')) AS digest FROM ${t} x`,
    )
    out[t] = `${row!.n} ${row!.digest}`
  }
  return out
}

function seed(...args: string[]) {
  return run('npx', ['tsx', 'seeds/index.ts', ...args], { cwd: projectDir, env: { ...process.env, DATABASE_URL: db.url }, maxBuffer: 16 << 20 })
}

test('seeding twice leaves the same rows, with load volume', async () => {
  const first = await seed('--subscribers=3000', '--messages=6000')
  assert.match(first.stdout, /^Users: 3\nGroups: 2\nSubscribers \(demo\): 10\nCampaigns \(demo\): 3\nSubscribers: 3000\/3000\nSubscribers \(load\): 3000 new\nMessages: 6000\/6000\nMessages \(load\): 6000 new\nSeeded in [\d.]+s\n$/)
  const afterFirst = await state()
  assert.equal(afterFirst.subscribers!.split(' ')[0], '3010')
  assert.equal(afterFirst.messages!.split(' ')[0], String(6000 + 4 + 2)) // load + demo campaign + conversation

  const second = await seed('--subscribers=3000', '--messages=6000')
  assert.match(second.stdout, /Subscribers \(load\): 0 new\n/)
  assert.match(second.stdout, /Messages \(load\): 0 new\n/)
  assert.deepEqual(await state(), afterFirst)

  // the counters agree with the messages after bulk seeding
  const mismatched = await query(
    db.url,
    `SELECT c.id FROM campaigns c LEFT JOIN messages m ON m.campaign_id = c.id GROUP BY c.id
      HAVING c.total_recipients <> count(m.id) OR c.read_count <> count(m.id) FILTER (WHERE m.status = 'read')`,
  )
  assert.deepEqual(mismatched, [])
  // no broadcast reached an opted-out subscriber
  const [leak] = await query<{ n: string }>(db.url, `SELECT count(*) AS n FROM messages m JOIN subscribers s ON s.id = m.subscriber_id WHERE m.campaign_id IS NOT NULL AND s.opt_status = 'opted_out'`)
  assert.equal(leak!.n, '0')
})

test('a malformed option fails with usage and exit code 1, writing nothing', async () => {
  const before = await state()
  const err = await seed('--subscribers=lots').then(
    () => assert.fail('expected failure'),
    (e: { code: number; stderr: string }) => e,
  )
  assert.equal(err.code, 1)
  assert.equal(err.stderr, 'Seeding failed: Unknown or malformed option `--subscribers=lots`. Usage: tsx seeds/index.ts [--subscribers=N] [--messages=N]\n')
  assert.deepEqual(await state(), before)
})
