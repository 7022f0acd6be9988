// `npm run scale:check` as a user runs it: the real CLI on a database migrated with the real
// `prisma migrate deploy`, then the same database after schema changes that break the Citus
// plan (prisma/scale-plan.json, docs/scaling.md). Citus itself is not installed here: the
// check applies its restrictions to PostgreSQL's own catalog.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'

import { ROOT, runCli } from './fixtures/cli.ts'
import { createTestDatabase, query, type TestDatabase } from './helpers/db.ts'
import { PRISMA_BIN, run } from './helpers/prisma.ts'

const check = (url: string, extra: string[] = []) => runCli(['scale:check', ...extra], { url })

describe('scale:check', () => {
  let db: TestDatabase
  before(async () => {
    db = await createTestDatabase('scale_check')
    const r = await run(PRISMA_BIN, ['migrate', 'deploy'], { env: { DATABASE_URL: db.url } })
    assert.equal(r.code, 0, r.stdout + r.stderr)
  })
  after(async () => {
    await db?.drop()
  })

  test("today's schema passes: every finding is in the plan's accepted list, each with what it becomes", async () => {
    const r = await check(db.url)
    process.stdout.write(r.stdout.split('\n').map((l) => `# ${l}`).join('\n') + '\n')
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.match(r.stdout, /messages\s+distributed by subscriber_id \(co-location subscriber\)/)
    assert.match(r.stdout, /campaigns\s+reference/)
    assert.match(r.stdout, /_prisma_migrations\s+local/)
    assert.match(r.stdout, /trigger:messages:messages_unique_keys_insert\n.*\n\s+becomes: statements the api runs in the same transaction/)
    assert.match(r.stdout, /OK: nothing breaks the plan beyond its accepted list \(\d+ findings, all accepted\)/)
    const j = JSON.parse((await check(db.url, ['--json'])).stdout) as { ok: boolean; findings: Array<{ id: string; acceptedAs?: string }>; breaking: string[]; staleAccepted: string[] }
    assert.equal(j.ok, true)
    assert.deepEqual(j.breaking, [])
    assert.deepEqual(j.staleAccepted, [], 'every accepted entry matches a finding of this schema')
    const plan = JSON.parse(readFileSync(path.join(ROOT, 'prisma', 'scale-plan.json'), 'utf8')) as { accepted: Record<string, string> }
    assert.deepEqual(j.findings.map((f) => f.id).sort(), Object.keys(plan.accepted).sort())
  })

  test('a unique index without the distribution column, a foreign key from a reference table to a distributed one, a new table: each fails it, named', async () => {
    await query(db.url, 'CREATE UNIQUE INDEX group_members_joined_key ON group_members (group_id, joined_at)')
    try {
      const r = await check(db.url)
      assert.equal(r.code, 1, r.stdout + r.stderr)
      assert.match(r.stderr, /Breaks the plan \(1\):\n\s+unique-without-distribution-column:group_members:group_members_joined_key\n.*does not include the distribution column `subscriber_id`/)
      assert.match(r.stderr, /definition: CREATE UNIQUE INDEX group_members_joined_key ON public\.group_members USING btree \(group_id, joined_at\)/)
      assert.match(r.stderr, /Fix: .*add the id to "accepted" in prisma\/scale-plan\.json/)
    } finally {
      await query(db.url, 'DROP INDEX group_members_joined_key')
    }
    // With the distribution column the same rule is fine.
    await query(db.url, 'CREATE UNIQUE INDEX group_members_joined_subscriber_key ON group_members (joined_at, subscriber_id)')
    try {
      assert.equal((await check(db.url)).code, 0)
    } finally {
      await query(db.url, 'DROP INDEX group_members_joined_subscriber_key')
    }
    await query(db.url, 'ALTER TABLE campaigns ADD COLUMN test_subscriber_id integer REFERENCES subscribers (id)')
    await query(db.url, 'CREATE TABLE scratch_notes (id serial PRIMARY KEY, body text)')
    try {
      const r = await check(db.url, ['--json'])
      assert.equal(r.code, 1)
      const j = JSON.parse(r.stdout) as { ok: boolean; breaking: string[] }
      assert.equal(j.ok, false)
      assert.deepEqual(j.breaking.sort(), ['fk-reference-to-distributed:campaigns:campaigns_test_subscriber_id_fkey', 'table-not-in-plan:scratch_notes'])
    } finally {
      await query(db.url, 'ALTER TABLE campaigns DROP COLUMN test_subscriber_id')
      await query(db.url, 'DROP TABLE scratch_notes')
    }
    assert.equal((await check(db.url)).code, 0, 'back to the plan')
  })

  test('an unreadable plan is refused with exit 2, naming the file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'watify-scale-'))
    try {
      const bad = path.join(dir, 'plan.json')
      writeFileSync(bad, JSON.stringify({ distributed: { messages: { column: 'subscriber_id', colocate: 'x' } }, reference: ['messages'], local: [], accepted: {} }))
      const r = await check(db.url, [`--plan=${bad}`])
      assert.equal(r.code, 2, r.stdout + r.stderr)
      assert.match(r.stderr, /lists `messages` as both distributed and reference/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
