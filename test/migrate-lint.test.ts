// `migrate:lint` as a user runs it: the real CLI on the project's history (accepted
// by the committed baseline) and on scratch copies of it with one new migration.
import assert from 'node:assert/strict'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'

import { deploy } from '../src/migrate/index.ts'
import { runCli, ROOT } from './fixtures/cli.ts'
import { createTestDatabase, query, type TestDatabase } from './helpers/db.ts'
import { migrationFolders } from './helpers/migrations.ts'

const HEADER_OFFLINE = 'big tables: messages, subscribers; no database configured, no live row estimates'
const LOCK = "SET lock_timeout = '5s';"

/** prisma/migrations and its baseline copied to a temp folder, plus `008_<name>` with these files. */
function scratch(name: string, up: string, down?: string): { dir: string; migration: string; remove(): void } {
  const root = mkdtempSync(path.join(tmpdir(), 'watify-lint-'))
  const dir = path.join(root, 'migrations')
  cpSync(path.join(ROOT, 'prisma', 'migrations'), dir, { recursive: true })
  cpSync(path.join(ROOT, 'prisma', 'migration-lint-baseline.json'), path.join(root, 'migration-lint-baseline.json'))
  const next = String(migrationFolders().length + 1).padStart(3, '0')
  const migration = `${next}_${name}`
  mkdirSync(path.join(dir, migration))
  writeFileSync(path.join(dir, migration, 'migration.sql'), up)
  if (down !== undefined) writeFileSync(path.join(dir, migration, 'down.sql'), down)
  return { dir, migration, remove: () => rmSync(root, { recursive: true, force: true }) }
}

const lint = (dir: string, extra: string[] = [], url?: string) => runCli(['migrate:lint', ...extra], { migrationsDir: dir, ...(url ? { url } : {}) })

describe('migrate:lint', () => {
  test('the project history passes: every old finding is accepted by the baseline, with a reason', async () => {
    const r = await lint(path.join(ROOT, 'prisma', 'migrations'), ['--offline'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const baseline = JSON.parse(readFileSync(path.join(ROOT, 'prisma', 'migration-lint-baseline.json'), 'utf8')) as { through: string; accepted: Array<{ migration: string; reason: string }> }
    assert.ok(baseline.accepted.every((e) => e.reason.length > 40))
    // Only the history before the gate is accepted: every migration after `through` passes outright.
    assert.equal(baseline.through, '007_add_database_rules', 'the gate came after 007: a later migration is never baselined, it passes')
    assert.deepEqual(baseline.accepted.filter((e) => e.migration > baseline.through), [])
    // Warnings (advice) may stand between; no error does.
    assert.equal(r.out[0], `Lint: ${migrationFolders().length} migrations with squawk 2.66.0; ${HEADER_OFFLINE}`)
    assert.deepEqual(r.out.slice(-2), [`Accepted by the baseline: ${baseline.accepted.length} findings (prisma/migration-lint-baseline.json)`, 'Done: no errors'])
    assert.ok(!r.out.some((l) => / {2}error {2}/.test(l)), r.stdout)
    assert.deepEqual(r.err, [])
  })

  test('a plain index on messages fails, and the fix names CONCURRENTLY and the no-transaction marker', async () => {
    const s = scratch('index_message_body', 'CREATE INDEX messages_body_idx ON messages (body);\n', 'DROP INDEX messages_body_idx;\n')
    try {
      const r = await lint(s.dir, ['--offline'])
      assert.equal(r.code, 1)
      assert.deepEqual(r.err, [
        `${s.migration}/migration.sql:1  error  require-concurrent-index-creation: During normal index creation, table updates are blocked, but reads are still allowed. (on big table \`messages\`)`,
        '    Fix: Use CREATE INDEX CONCURRENTLY, in a migration whose first line is `-- watify:no-transaction` (it then runs outside a transaction, statement by statement)',
        `Failed: 1 error in 1 migration (${s.migration})`,
      ])
    } finally {
      s.remove()
    }
  })

  test('CONCURRENTLY passes in a no-transaction migration and fails without the marker', async () => {
    const body = `${LOCK}\nCREATE INDEX CONCURRENTLY messages_body_idx ON messages (body);\n`
    const ok = scratch('index_message_body', `-- watify:no-transaction\n${body}`, '-- watify:no-transaction\nDROP INDEX CONCURRENTLY messages_body_idx;\n')
    const bad = scratch('index_message_body', body, 'DROP INDEX messages_body_idx;\n')
    try {
      const r = await lint(ok.dir, ['--offline'])
      assert.equal(r.code, 0, r.stdout + r.stderr)
      assert.equal(r.out.at(-1), 'Done: no errors')
      const b = await lint(bad.dir, ['--offline'])
      assert.equal(b.code, 1)
      assert.deepEqual(b.err.slice(0, 2), [
        `${bad.migration}/migration.sql:2  error  ban-concurrent-index-creation-in-transaction: While regular index creation can happen inside a transaction, this is not allowed when the \`CONCURRENTLY\` option is used.`,
        "    Fix: Make `-- watify:no-transaction` the first line of the file: CONCURRENTLY cannot run inside the migration's transaction",
      ])
    } finally {
      ok.remove()
      bad.remove()
    }
  })

  test('locking changes to a big table fail one by one; NOT VALID + a separate VALIDATE passes', async () => {
    const s = scratch(
      'tighten_messages',
      [
        LOCK,
        'ALTER TABLE messages ALTER COLUMN body SET NOT NULL;',
        "ALTER TABLE messages ADD CONSTRAINT messages_body_len CHECK (length(body) < 5000);",
        'ALTER TABLE messages ADD COLUMN token uuid DEFAULT gen_random_uuid();',
        'ALTER TABLE messages ALTER COLUMN body TYPE varchar(500);',
        'ALTER TABLE subscribers ADD CONSTRAINT subscribers_group_fk FOREIGN KEY (id) REFERENCES whatsapp_groups (id);',
        '',
      ].join('\n'),
      'SELECT 1;\n',
    )
    const good = scratch(
      'check_messages_body',
      `${LOCK}\nALTER TABLE messages ADD CONSTRAINT messages_body_len CHECK (length(body) < 5000) NOT VALID;\n`,
      'ALTER TABLE messages DROP CONSTRAINT messages_body_len;\n',
    )
    try {
      const r = await lint(s.dir, ['--offline'])
      assert.equal(r.code, 1)
      const errors = r.err.filter((l) => l.includes('  error  ')).map((l) => l.replace(/^\S+:(\d+)  error  ([a-z-]+):.*$/, '$1 $2'))
      assert.deepEqual(errors, [
        '2 adding-not-nullable-field',
        '3 constraint-missing-not-valid',
        '4 adding-field-with-default',
        '5 changing-column-type',
        '6 adding-foreign-key-constraint',
        '6 constraint-missing-not-valid',
      ])
      const g = await lint(good.dir, ['--offline'])
      assert.equal(g.code, 0, g.stdout + g.stderr)
    } finally {
      s.remove()
      good.remove()
    }
  })

  test('a destructive change needs a down.sql that puts the data back', async () => {
    const up = `${LOCK}\nALTER TABLE subscribers DROP COLUMN attributes;\n`
    const lossy = scratch('drop_attributes', up, "ALTER TABLE subscribers ADD COLUMN attributes jsonb NOT NULL DEFAULT '{}';\n")
    const keeping = scratch(
      'drop_attributes',
      `${LOCK}\nCREATE TABLE subscribers_attributes_backup AS SELECT id, attributes FROM subscribers;\nALTER TABLE subscribers DROP COLUMN attributes;\n`,
      "ALTER TABLE subscribers ADD COLUMN attributes jsonb NOT NULL DEFAULT '{}';\nUPDATE subscribers s SET attributes = b.attributes FROM subscribers_attributes_backup b WHERE b.id = s.id;\nDROP TABLE subscribers_attributes_backup;\n",
    )
    try {
      const r = await lint(lossy.dir, ['--offline'])
      assert.equal(r.code, 1)
      assert.deepEqual(r.err, [
        `${lossy.migration}/migration.sql:2  error  watify-destructive-without-data-down: Destructive change: migration.sql drops column \`subscribers.attributes\`, and down.sql recreates the structure but puts no data back`,
        '    Fix: Keep the data: copy it to a backup table (or rename instead of dropping) in migration.sql, and restore it with INSERT ... SELECT / UPDATE in down.sql',
        `Failed: 1 error in 1 migration (${lossy.migration})`,
      ])
      const k = await lint(keeping.dir, ['--offline'])
      assert.equal(k.code, 0, k.stdout + k.stderr)
    } finally {
      lossy.remove()
      keeping.remove()
    }
  })

  test('bad arguments exit 2 and write nothing', async () => {
    const r = await lint(path.join(ROOT, 'prisma', 'migrations'), ['--offline', '--big-table-rows=lots'])
    assert.equal(r.code, 2)
    assert.equal(r.err[0], 'Error: `--big-table-rows` must be a whole number of at least 1, got `NaN`.')
    const s = scratch('x', `${LOCK}\nSELECT 1;\n`, 'SELECT 1;\n')
    try {
      const a = await lint(s.dir, ['--offline', `--accept=${s.migration}`])
      assert.equal(a.code, 2)
      assert.equal(a.err[0], 'Error: `--reason` is required with `--accept`.')
      // Unchanged: still the project's own baseline.
      const own = JSON.parse(readFileSync(path.join(ROOT, 'prisma', 'migration-lint-baseline.json'), 'utf8')).through
      assert.equal(JSON.parse(readFileSync(path.join(s.dir, '..', 'migration-lint-baseline.json'), 'utf8')).through, own)
    } finally {
      s.remove()
    }
  })

  describe('with a database: live row estimates', () => {
    let db: TestDatabase
    before(async () => {
      db = await createTestDatabase('lint_live')
      await deploy({ url: db.url })
      await query(
        db.url,
        `INSERT INTO whatsapp_groups (whatsapp_group_id, name) SELECT '120363' || lpad(g::text, 12, '0') || '@g.us', 'Group ' || g FROM generate_series(1, 300) g`,
      )
      await query(db.url, 'ANALYZE whatsapp_groups')
    })
    after(async () => {
      await db?.drop()
    })

    test('a table over --big-table-rows counts as big; offline the same change is only advice', async () => {
      const s = scratch('check_group_name', `${LOCK}\nALTER TABLE whatsapp_groups ADD CONSTRAINT whatsapp_groups_name_len CHECK (length(name) < 200);\n`, 'ALTER TABLE whatsapp_groups DROP CONSTRAINT whatsapp_groups_name_len;\n')
      try {
        const live = await lint(s.dir, ['--big-table-rows=100'], db.url)
        assert.equal(live.code, 1, live.stdout + live.stderr)
        assert.equal(live.out[1], `Lint: ${migrationFolders().length + 1} migrations with squawk 2.66.0; big tables: messages, subscribers, whatsapp_groups (~300 rows); live row estimates read`)
        assert.match(live.err[0]!, /constraint-missing-not-valid: .* \(on big table `whatsapp_groups`\)$/)
        const offline = await lint(s.dir, ['--offline', '--big-table-rows=100'], db.url)
        assert.equal(offline.code, 0, offline.stdout + offline.stderr)
        assert.match(offline.out.find((l) => l.includes('constraint-missing-not-valid'))!, /  warning  constraint-missing-not-valid: /)
      } finally {
        s.remove()
      }
    })
  })
})
