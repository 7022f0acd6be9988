// The unmodified Prisma CLI on our Wasm engine stand-in, against real
// PostgreSQL: every command the project relies on, and each trap the stand-in
// works around (src/engine/adapter.ts) with a test that fails without its fix.
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'

import { adminQuery, createTestDatabase, query, withDatabase, type TestDatabase } from './helpers/db.ts'
import { ENGINE_BIN, ROOT, run, tempProject, type TempProject } from './helpers/prisma.ts'
import { spawn } from 'node:child_process'
import { createServer, type AddressInfo, type Socket } from 'node:net'

import { statementAt } from '../src/engine/rpc.ts'

const USER = `model User {
  id    Int    @id @default(autoincrement())
  email String @unique
  posts Post[]
}

model Post {
  id       Int    @id @default(autoincrement())
  title    String
  authorId Int
  author   User   @relation(fields: [authorId], references: [id], onDelete: Cascade)
}`

const USER_WITH_NAME = USER.replace('email String @unique', 'email String @unique\n  name  String?')

function migrationDirs(p: TempProject): string[] {
  const dir = join(p.dir, 'prisma/migrations')
  return existsSync(dir) ? readdirSync(dir).filter((d) => d !== 'migration_lock.toml').sort() : []
}

/** Shadow databases made for `main` still on the server (other tests may be making their own). */
async function shadowDatabases(main: TestDatabase): Promise<string[]> {
  const rows = await query<{ datname: string }>(main.url, `SELECT datname FROM pg_database WHERE datname LIKE $1`, [`prisma_shadow_${main.name}_%`])
  return rows.map((r) => r.datname)
}

describe('Prisma CLI on the Wasm engine', { concurrency: false }, () => {
  let db: TestDatabase
  let p: TempProject
  const fresh: string[] = []

  before(async () => {
    db = await createTestDatabase('engine')
    p = tempProject(db.url, USER)
  })
  after(async () => {
    p?.remove()
    await db?.drop()
    for (const name of fresh) await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
  })

  test('validate, generate and version run with no engine download', async () => {
    const v = await p.prisma(['validate'])
    assert.equal(v.code, 0, v.stderr)
    assert.match(v.stdout + v.stderr, /The schema at prisma\/schema.prisma is valid/)
    const version = await p.prisma(['version'])
    assert.equal(version.code, 0, version.stderr)
    assert.match(version.stdout, /Schema Engine\s+: schema-engine-cli [0-9a-f]{40} \(wasm\)/)
    const gen = await p.prisma(['generate', '--no-hints'])
    assert.equal(gen.code, 0, gen.stderr)
  })

  test('migrate dev creates the missing database and applies the first migration', async () => {
    const name = `${db.name}_new`
    fresh.push(name)
    const np = tempProject(withDatabase(db.url, name), USER)
    try {
      const r = await np.prisma(['migrate', 'dev', '--name', 'init'])
      assert.equal(r.code, 0, r.stdout + r.stderr)
      assert.match(r.stdout, new RegExp(`PostgreSQL database ${name} created at`))
      assert.match(r.stdout, /Your database is now in sync with your schema\./)
      const [dir] = migrationDirs(np)
      assert.match(dir!, /^\d{14}_init$/)
      const rows = await query(withDatabase(db.url, name), `SELECT migration_name, finished_at IS NOT NULL AS done FROM _prisma_migrations`)
      assert.deepEqual(rows, [{ migration_name: dir, done: true }])
      const tables = await query(withDatabase(db.url, name), `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
      assert.deepEqual(tables.map((t) => t.tablename), ['Post', 'User', '_prisma_migrations'])
    } finally {
      np.remove()
    }
  })

  test('migrate dev --create-only writes the migration without applying it', async () => {
    const r = await p.prisma(['migrate', 'dev', '--name', 'init', '--create-only'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const [dir] = migrationDirs(p)
    assert.match(readFileSync(join(p.dir, 'prisma/migrations', dir!, 'migration.sql'), 'utf8'), /CREATE TABLE "User"/)
    const tables = await query(db.url, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename = 'User'`)
    assert.deepEqual(tables, [])
  })

  test('migrate status exits 1 while a migration is pending, 0 once deployed', async () => {
    const pending = await p.prisma(['migrate', 'status'])
    assert.equal(pending.code, 1)
    assert.match(pending.stdout, /Following migration have not yet been applied:/)
    const deploy = await p.prisma(['migrate', 'deploy'])
    assert.equal(deploy.code, 0, deploy.stderr)
    assert.match(deploy.stdout, /All migrations have been successfully applied\./)
    const ok = await p.prisma(['migrate', 'status'])
    assert.equal(ok.code, 0, ok.stderr)
    assert.match(ok.stdout, /Database schema is up to date!/)
  })

  test('migrate dev keeps every row of the main database (the shadow database is a separate one)', async () => {
    await query(db.url, `INSERT INTO "User"(email) VALUES ('a@x.io'), ('b@x.io'); INSERT INTO "Post"(title, "authorId") SELECT 'hello', id FROM "User"`)
    p.writeSchema(USER_WITH_NAME)
    const r = await p.prisma(['migrate', 'dev', '--name', 'add_name'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.equal(migrationDirs(p).length, 2)
    const users = await query(db.url, `SELECT email, name FROM "User" ORDER BY email`)
    assert.deepEqual(users, [
      { email: 'a@x.io', name: null },
      { email: 'b@x.io', name: null },
    ])
    assert.deepEqual(await query(db.url, `SELECT count(*)::int AS n FROM "Post"`), [{ n: 2 }])
    assert.deepEqual(await shadowDatabases(db), [], 'no shadow database is left behind')
  })

  test('migrate diff: --script to stdout, --output to a file, --exit-code', async () => {
    const none = await p.prisma(['migrate', 'diff', '--from-migrations', 'prisma/migrations', '--to-schema', 'prisma/schema.prisma', '--exit-code'])
    assert.equal(none.code, 0, none.stdout + none.stderr)
    assert.match(none.stdout, /No difference detected\./)
    const script = await p.prisma(['migrate', 'diff', '--from-empty', '--to-schema', 'prisma/schema.prisma', '--script'])
    assert.equal(script.code, 0, script.stderr)
    assert.match(script.stdout, /CREATE TABLE "User" \(/)
    const out = join(p.dir, 'diff.sql')
    const file = await p.prisma(['migrate', 'diff', '--from-empty', '--to-schema', 'prisma/schema.prisma', '--script', '--output', out])
    assert.equal(file.code, 0, file.stderr)
    assert.equal(readFileSync(out, 'utf8').trim(), script.stdout.trim())
    const changed = await p.prisma(['migrate', 'diff', '--from-empty', '--to-schema', 'prisma/schema.prisma', '--exit-code'])
    assert.equal(changed.code, 2)
    assert.match(changed.stdout, /\[\+\] Added tables/)
    assert.deepEqual(await shadowDatabases(db), [])
  })

  test('a failed migration reports P3018 with the failing statement and changes nothing', async () => {
    const dir = join(p.dir, 'prisma/migrations/99999999999999_broken')
    mkdirSync(dir)
    writeFileSync(join(dir, 'migration.sql'), 'CREATE TABLE "Half" (id int);\n\nINSERT INTO "Nope" VALUES (1);\n')
    const r = await p.prisma(['migrate', 'deploy'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /Error: P3018/)
    assert.match(r.stderr, /Migration name: 99999999999999_broken/)
    assert.match(r.stderr, /Database error code: 42P01/)
    assert.match(r.stderr, /Statement:\nINSERT INTO "Nope" VALUES \(1\);/)
    assert.deepEqual(await query(db.url, `SELECT to_regclass('"Half"') AS t`), [{ t: null }])
    const rows = await query(db.url, `SELECT finished_at IS NULL AS failed FROM _prisma_migrations WHERE migration_name = '99999999999999_broken'`)
    assert.deepEqual(rows, [{ failed: true }])
    const status = await p.prisma(['migrate', 'status'])
    assert.equal(status.code, 1)
    assert.match(status.stderr, /Following migration have failed:\n99999999999999_broken/)
  })

  test('migrate resolve --rolled-back and --applied update the history', async () => {
    const rb = await p.prisma(['migrate', 'resolve', '--rolled-back', '99999999999999_broken'])
    assert.equal(rb.code, 0, rb.stderr)
    assert.match(rb.stdout, /Migration 99999999999999_broken marked as rolled back\./)
    writeFileSync(join(p.dir, 'prisma/migrations/99999999999999_broken/migration.sql'), 'CREATE TABLE "Half" (id int);\n')
    await query(db.url, 'CREATE TABLE "Half" (id int)')
    const ap = await p.prisma(['migrate', 'resolve', '--applied', '99999999999999_broken'])
    assert.equal(ap.code, 0, ap.stderr)
    assert.match(ap.stdout, /Migration 99999999999999_broken marked as applied\./)
    const rows = await query(db.url, `SELECT rolled_back_at IS NOT NULL AS rb, finished_at IS NOT NULL AS done FROM _prisma_migrations WHERE migration_name = '99999999999999_broken' ORDER BY started_at`)
    assert.deepEqual(rows, [
      { rb: true, done: false },
      { rb: false, done: true },
    ])
  })

  test('db execute runs a plpgsql body whole (not split on semicolons)', async () => {
    const file = join(p.dir, 'fn.sql')
    writeFileSync(file, `CREATE FUNCTION add_one(i int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN i := i + 1; RETURN i; END; $$;\nCREATE TABLE "Extra" (id int);`)
    const r = await p.prisma(['db', 'execute', '--file', file])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.match(r.stdout, /Script executed successfully\./)
    assert.deepEqual(await query(db.url, 'SELECT add_one(41) AS v'), [{ v: 42 }])
    await query(db.url, 'DROP FUNCTION add_one(int); DROP TABLE "Extra"')
  })

  test('db pull introspects foreign keys (catalog "char" columns)', async () => {
    const r = await p.prisma(['db', 'pull', '--print'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.match(r.stdout, /author\s+User\s+@relation\(fields: \[authorId\], references: \[id\], onDelete: Cascade\)/)
  })

  test('db push syncs a schema without migrations', async () => {
    const name = `${db.name}_push`
    fresh.push(name)
    await adminQuery(`CREATE DATABASE "${name}"`)
    const r = await p.prisma(['db', 'push'], { DATABASE_URL: withDatabase(db.url, name) })
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.match(r.stdout, /Your database is now in sync with your Prisma schema\./)
    const cols = await query(withDatabase(db.url, name), `SELECT column_name FROM information_schema.columns WHERE table_name = 'User' ORDER BY 1`)
    assert.deepEqual(cols.map((c) => c.column_name), ['email', 'id', 'name'])
  })

  test('?schema= in the URL puts everything in that schema', async () => {
    const url = `${db.url}?schema=app`
    const r = await p.prisma(['migrate', 'deploy'], { DATABASE_URL: url })
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const rows = await query(db.url, `SELECT tablename FROM pg_tables WHERE schemaname = 'app' ORDER BY 1`)
    assert.deepEqual(rows.map((t) => t.tablename), ['Half', 'Post', 'User', '_prisma_migrations'])
  })

  test('migrate reset --force empties the database and re-applies the history', async () => {
    const r = await p.prisma(['migrate', 'reset', '--force'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.deepEqual(await query(db.url, `SELECT count(*)::int AS n FROM "User"`), [{ n: 0 }])
    assert.deepEqual(await query(db.url, `SELECT count(*)::int AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL`), [{ n: 3 }])
  })

  test('createMigration works as the first call of an engine (devDiagnostic is run for it)', async () => {
    // The Wasm engine only prepares its shadow database inside devDiagnostic;
    // the stand-in runs it and retries when a caller skipped it.
    const schemaPath = join(p.dir, 'prisma/schema.prisma')
    const child = spawn(ENGINE_BIN, ['--datamodels', schemaPath, '--datasource', JSON.stringify({ url: db.url })], { cwd: p.dir, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stderr.on('data', (d) => (err += d))
    const reply = new Promise<{ result?: { migrationScript?: string }; error?: unknown }>((resolve) => {
      child.stdout.on('data', (d) => {
        out += d
        const line = out.split('\n').find((l) => l.includes('"id":1'))
        if (line) resolve(JSON.parse(line))
      })
    })
    const request = {
      id: 1,
      jsonrpc: '2.0',
      method: 'createMigration',
      params: {
        draft: true,
        migrationName: 'first',
        migrationsList: { baseDir: join(ROOT, 'test/.tmp/does-not-exist'), lockfile: { path: 'migration_lock.toml', content: null }, migrationDirectories: [], shadowDbInitScript: '' },
        schema: { files: [{ path: schemaPath, content: readFileSync(schemaPath, 'utf8') }] },
        filters: { externalTables: [], externalEnums: [] },
      },
    }
    child.stdin.write(JSON.stringify(request) + '\n')
    const answer = await reply
    child.stdin.end()
    await new Promise((r) => child.on('close', r))
    assert.equal(answer.error, undefined, JSON.stringify(answer.error) + err)
    assert.match(answer.result?.migrationScript ?? '', /CREATE TABLE "User"/)
    assert.deepEqual(await shadowDatabases(db), [])
  })

  test('a user-chosen PRISMA_SCHEMA_ENGINE_BINARY is respected', async () => {
    const fake = join(p.dir, 'fake-engine.sh')
    writeFileSync(fake, '#!/bin/sh\necho "schema-engine-cli user-choice"\n', { mode: 0o755 })
    const r = await p.prisma(['version'], { PRISMA_SCHEMA_ENGINE_BINARY: fake })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /Schema Engine\s+: schema-engine-cli user-choice/)
    assert.doesNotMatch(r.stdout, /\(wasm\)/)
  })

  test('the engine answers --version and reports a missing database as P1003', async () => {
    const v = await run(ENGINE_BIN, ['--version'])
    assert.equal(v.code, 0, v.stderr)
    assert.match(v.stdout, /^schema-engine-cli [0-9a-f]{40} \(wasm\)\n$/)
    const missing = await run(ENGINE_BIN, ['--datasource', JSON.stringify({ url: withDatabase(db.url, `${db.name}_missing`) }), 'cli', 'can-connect-to-database'])
    assert.equal(missing.code, 1)
    const [, line] = missing.stderr.trim().split('\n')
    const parsed = JSON.parse(line!)
    assert.equal(parsed.level, 'ERROR')
    assert.equal(parsed.target, 'schema_engine::logger')
    assert.equal(parsed.fields.error_code, 'P1003')
  })
})

/** The engine stand-in as the Prisma CLI drives it: JSON-RPC lines on stdin/stdout. */
function engineSession(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(ENGINE_BIN, args, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] })
  const messages: Array<Record<string, any>> = []
  const waiters: Array<() => void> = []
  let stderr = ''
  let buf = ''
  child.stderr.on('data', (d) => (stderr += d))
  child.stdout.on('data', (d) => {
    buf += d
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      messages.push(JSON.parse(buf.slice(0, nl)))
      buf = buf.slice(nl + 1)
      for (const w of waiters.splice(0)) w()
    }
  })
  const closed = new Promise<number | null>((r) => child.on('close', r))
  return {
    send: (msg: object) => child.stdin.write(JSON.stringify(msg) + '\n'),
    /** The first message (taken off the list) that `match` accepts; fails after 60 s. */
    async next(match: (m: Record<string, any>) => boolean): Promise<Record<string, any>> {
      const deadline = Date.now() + 60_000
      for (;;) {
        const i = messages.findIndex(match)
        if (i >= 0) return messages.splice(i, 1)[0]!
        if (Date.now() > deadline) throw new Error(`no matching message; stderr:\n${stderr}`)
        await new Promise<void>((r) => {
          waiters.push(r)
          setTimeout(r, 1000)
        })
      }
    },
    stderr: () => stderr,
    async close(): Promise<number | null> {
      child.stdin.end()
      return closed
    },
  }
}

const SCHEMA = 'datasource db {\n  provider = "postgresql"\n}\n\nmodel Thing {\n  id Int @id\n}\n'
const diffRequest = (id: number) => ({
  id,
  jsonrpc: '2.0',
  method: 'diff',
  params: { from: { tag: 'empty' }, to: { tag: 'schemaDatamodel', files: [{ path: 'schema.prisma', content: SCHEMA }] }, script: true, exitCode: null, filters: { externalTables: [], externalEnums: [] } },
})
const applyRequest = (id: number, script: string) => ({
  id,
  jsonrpc: '2.0',
  method: 'applyMigrations',
  params: {
    migrationsList: {
      baseDir: join(ROOT, 'test/.tmp/unused'),
      lockfile: { path: 'migration_lock.toml', content: 'provider = "postgresql"\n' },
      migrationDirectories: [{ path: '001_broken', migrationFile: { path: 'migration.sql', content: { tag: 'ok', value: script } } }],
      shadowDbInitScript: '',
    },
    filters: { externalTables: [], externalEnums: [] },
  },
})

/** An engine stand-in on a fresh database of its own; it must exit 0 when its stdin closes. */
async function onFreshDatabase(prefix: string, fn: (engine: ReturnType<typeof engineSession>) => Promise<void>): Promise<void> {
  const db = await createTestDatabase(prefix)
  const engine = engineSession(['--datasource', JSON.stringify({ url: db.url })])
  try {
    await fn(engine)
  } finally {
    assert.equal(await engine.close(), 0)
    await db.drop()
  }
}

describe('engine stand-in robustness', () => {
  test('answers from the CLI are matched by id, and an error answer fails the request instead of being dropped', async () => {
    await onFreshDatabase('engine_rpc', async (engine) => {
      engine.send(diffRequest(1))
      const print1 = await engine.next((m) => m.method === 'print')
      assert.match(print1.params.content, /CREATE TABLE "Thing"/)
      // An answer for a request the engine never made is not taken for this one.
      engine.send({ jsonrpc: '2.0', id: Number(print1.id) + 1000, result: {} })
      engine.send({ jsonrpc: '2.0', id: print1.id, error: { code: -32000, message: 'stdout closed' } })
      const failed = await engine.next((m) => m.id === 1)
      assert.equal(failed.result, undefined)
      assert.match(failed.error.data.message, /stdout closed/)
      // stderr is another pipe than the answers: give its line a moment to arrive.
      for (let i = 0; i < 40 && !/Answer for unknown request id/.test(engine.stderr()); i++) await new Promise((r) => setTimeout(r, 50))
      assert.match(engine.stderr(), /Answer for unknown request id/)
      // The engine carries on: the next request and its print go through.
      engine.send(diffRequest(2))
      const print2 = await engine.next((m) => m.method === 'print')
      assert.notEqual(print2.id, print1.id)
      engine.send({ jsonrpc: '2.0', id: print2.id, result: {} })
      const ok = await engine.next((m) => m.id === 2)
      assert.deepEqual([ok.error, ok.result?.exitCode], [undefined, 0])
    })
  })

  test('a failing request does not stop the queue: the next request is answered', async () => {
    await onFreshDatabase('engine_queue', async (engine) => {
      engine.send({ id: 1, jsonrpc: '2.0', method: 'noSuchMethod', params: {} })
      engine.send({ id: 2, jsonrpc: '2.0', method: 'getDatabaseVersion', params: null })
      engine.send(diffRequest(3))
      const first = await engine.next((m) => m.id === 1)
      assert.match(first.error.data.message, /Method `noSuchMethod` is not supported/)
      assert.match((await engine.next((m) => m.id === 2)).result, /^PostgreSQL /)
      const print = await engine.next((m) => m.method === 'print')
      engine.send({ jsonrpc: '2.0', id: print.id, result: {} })
      assert.equal((await engine.next((m) => m.id === 3)).result?.exitCode, 0)
    })
  })

  test('a failed migration is reported with its whole statement (dollar quotes, code points), and only in the request it failed in', async () => {
    await onFreshDatabase('engine_p3018', async (engine) => {
      // Emoji before the error (PostgreSQL counts code points, JavaScript UTF-16 units) and a `;` inside a DO body.
      const script = `CREATE TABLE t_ok (note text DEFAULT '😀😀😀');\nDO $$ BEGIN PERFORM 1; PERFORM 2; END $$;\nSELECT * FROM nope;\n`
      engine.send(applyRequest(1, script))
      const first = await engine.next((m) => m.id === 1)
      assert.equal(first.error.data.error_code, 'P3018')
      assert.match(first.error.data.message, /Database error code: 42P01/)
      assert.match(first.error.data.message, /Statement:\nSELECT \* FROM nope;\n/)
      // Same history again: now it fails because 001 is recorded as failed (P3009), not because of a script.
      engine.send(applyRequest(2, script))
      const second = await engine.next((m) => m.id === 2)
      assert.equal(second.error.data.error_code, 'P3009', JSON.stringify(second.error.data))
    })
  })

  test('statementAt: the statement holding a code-point position, dollar-quoted bodies whole', () => {
    const script = `-- lead\nSELECT '😀';\nDO $$ BEGIN PERFORM 1; PERFORM 2; END $$;\nSELECT * FROM nope;`
    const at = (needle: string) => [...script.slice(0, script.indexOf(needle))].length + 1
    assert.equal(statementAt(script, at('PERFORM 2')), 'DO $$ BEGIN PERFORM 1; PERFORM 2; END $$;')
    assert.equal(statementAt(script, at('nope')), 'SELECT * FROM nope;')
    assert.equal(statementAt(script, at("'😀'")), "SELECT '😀';")
    assert.equal(statementAt(script, 0), undefined)
  })

  test('can-connect-to-database closes its connection when the server refuses it', async () => {
    // A server that answers every startup with FATAL 3D000 and leaves the socket open: the client must close it.
    const open = new Set<Socket>()
    const server = createServer()
    const closedAll = new Promise<void>((resolve) => {
      server.on('connection', (socket) => {
        open.add(socket)
        socket.once('data', () => {
          const fields = Buffer.from('SFATAL\0C3D000\0Mdatabase "gone" does not exist\0\0')
          const header = Buffer.alloc(5)
          header.write('E')
          header.writeInt32BE(fields.length + 4, 1)
          socket.write(Buffer.concat([header, fields]))
        })
        socket.on('close', () => {
          open.delete(socket)
          if (open.size === 0) resolve()
        })
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const { port } = server.address() as AddressInfo
    try {
      const { runSubcommand } = await import('../src/engine/subcommands.ts')
      const stderrWrite = process.stderr.write
      process.stderr.write = () => true // the command reports on stderr, as the CLI expects
      let code: number
      try {
        code = await runSubcommand('can-connect-to-database', `postgresql://u@127.0.0.1:${port}/gone`)
      } finally {
        process.stderr.write = stderrWrite
      }
      assert.equal(code, 1)
      await Promise.race([closedAll, new Promise((_, reject) => setTimeout(() => reject(new Error(`${open.size} connection(s) left open`)), 5000))])
    } finally {
      for (const socket of open) socket.destroy() // so a failure here cannot hang the test run
      server.close()
    }
  })
})

describe('a -- watify:no-transaction migration under npx prisma migrate deploy', () => {
  test('runs statement by statement, so CREATE INDEX CONCURRENTLY works; a failure is P3018 with its migration', async () => {
    const db = await createTestDatabase('engine_notx')
    const p = tempProject(db.url, 'model T {\n  id Int @id\n  v  Int\n}')
    try {
      const dir = join(p.dir, 'prisma/migrations')
      mkdirSync(join(dir, '001_t'), { recursive: true })
      writeFileSync(join(dir, 'migration_lock.toml'), 'provider = "postgresql"\n')
      writeFileSync(join(dir, '001_t/migration.sql'), 'CREATE TABLE "T" (id integer PRIMARY KEY, v integer NOT NULL);\nINSERT INTO "T" SELECT g, g % 3 FROM generate_series(1, 100) g;\n')
      mkdirSync(join(dir, '002_index'))
      writeFileSync(join(dir, '002_index/migration.sql'), '-- watify:no-transaction\nCREATE INDEX CONCURRENTLY "T_v_idx" ON "T" (v);\nCREATE INDEX CONCURRENTLY "T_id_v_idx" ON "T" (id, v);\n')
      const ok = await p.prisma(['migrate', 'deploy'])
      assert.equal(ok.code, 0, ok.stdout + ok.stderr)
      assert.deepEqual(await query(db.url, `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE 'T\\_%idx' ORDER BY 1`), [
        { name: 'T_id_v_idx', valid: true },
        { name: 'T_v_idx', valid: true },
      ])
      mkdirSync(join(dir, '003_unique'))
      writeFileSync(join(dir, '003_unique/migration.sql'), '-- watify:no-transaction\nCREATE INDEX CONCURRENTLY "T_id_idx" ON "T" (id);\nCREATE UNIQUE INDEX CONCURRENTLY "T_v_key" ON "T" (v);\n')
      const bad = await p.prisma(['migrate', 'deploy'])
      assert.equal(bad.code, 1, bad.stdout + bad.stderr)
      assert.match(bad.stderr, /P3018/)
      assert.match(bad.stderr, /Migration name: 003_unique/)
      assert.match(bad.stderr, /could not create unique index "T_v_key"/)
      // The first statement ran and stays (outside a transaction), as in the project's own runner.
      assert.deepEqual(await query(db.url, `SELECT to_regclass('"T_id_idx"') IS NOT NULL AS kept`), [{ kept: true }])
    } finally {
      p.remove()
      await db.drop()
    }
  })
})
