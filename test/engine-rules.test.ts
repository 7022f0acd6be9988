// Prisma's own CLI, through the engine stand-in, keeps the rules our commands
// keep (issue 16 item 4, issue 18 item 3), against real servers started here:
// a throwaway primary with TLS (self-signed) and a SCRAM-only role, a streaming
// standby of it, a real PgBouncer in front of it, and a TCP listener that never
// answers. Our commands, the client and the stand-in are checked alike.
import assert from 'node:assert/strict'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'

import pg from 'pg'

import { LibpqClient } from '../src/db/pg-client.ts'
import { driverConfig } from '../src/db/url.ts'
import { createEngineAdapter } from '../src/engine/adapter.ts'
import { createMigration } from '../src/migrate/create.ts'
import { FIXTURES, ROOT, runCli } from './fixtures/cli.ts'
import { createTestDatabase, query, serverUrl } from './helpers/db.ts'
import { pgbouncerSkipReason, startPgBouncer, type PgBouncer } from './helpers/pgbouncer.ts'
import { PRISMA_BIN, run, tempProject } from './helpers/prisma.ts'
import { startServer, type TestServer } from './helpers/pg-server.ts'
import { ReplicaCluster, type PgServer } from './helpers/replica.ts'

const LOCK_ID = 72707369
const SCRAM = { name: 'scram_app', password: 'Scr4m-secret' }
const MODELS = 'model User {\n  id Int @id\n}\n'

/** A temp Prisma project (stand-in engine) whose migrations are the `basic` fixture. */
function projectWithMigrations(url: string) {
  const p = tempProject(url, MODELS)
  cpSync(path.join(FIXTURES, 'basic'), path.join(p.dir, 'prisma', 'migrations'), { recursive: true })
  return p
}

async function advisoryLocks(url: string): Promise<number> {
  const rows = await query<{ n: string }>(url, `SELECT count(*)::text AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1`, [LOCK_ID])
  return Number(rows[0]!.n)
}

async function sslOf(url: string): Promise<boolean> {
  const client = new LibpqClient(driverConfig(url) as pg.ClientConfig)
  await client.connect()
  try {
    return (await client.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0]!.ssl
  } finally {
    await client.end()
  }
}

// TLS and a SCRAM role on one throwaway server; a primary and its streaming standby on others.
let primary: TestServer
const replicas = new ReplicaCluster()
let replicaPrimary: PgServer
let standby: PgServer

before(async () => {
  primary = await startServer({ ssl: true, scramUser: SCRAM })
  replicaPrimary = await replicas.startPrimary()
  standby = await replicas.startStandby(replicaPrimary)
})
after(async () => {
  await replicas.stop()
  await primary?.stop()
})

describe('a pooled URL for schema changes', { skip: pgbouncerSkipReason() }, () => {
  let bouncer: PgBouncer
  before(async () => {
    bouncer = await startPgBouncer(primary.url())
  })
  after(async () => {
    await bouncer?.stop()
  })

  test('npx prisma migrate deploy through pgbouncer=true is refused as our migrate refuses it, and leaves no migration lock held', async () => {
    await query(primary.url(), 'CREATE DATABASE pooled_deploy')
    const direct = primary.url({ database: 'pooled_deploy' })
    const pooled = `${bouncer.pooled(direct)}?pgbouncer=true`
    const ours = await runCli(['migrate'], { url: pooled, migrationsDir: path.join(FIXTURES, 'basic') })
    assert.equal(ours.code, 2, ours.stderr)
    const refusal = ours.err.find((l) => l.startsWith('Error: '))!.slice('Error: '.length)
    assert.match(refusal, /is a connection pooler/)
    const project = projectWithMigrations(pooled)
    try {
      const r = await project.prisma(['migrate', 'deploy'])
      assert.notEqual(r.code, 0, r.stdout + r.stderr)
      assert.ok((r.stdout + r.stderr).includes(refusal), `the stand-in's refusal differs from ours:\n${r.stdout}${r.stderr}`)
      assert.match(r.stdout + r.stderr, /Set DIRECT_DATABASE_URL to a direct connection/)
    } finally {
      project.remove()
    }
    assert.equal(await advisoryLocks(direct), 0, 'advisory lock 72707369 is still held')
    assert.deepEqual(await query(direct, `SELECT to_regclass('users') AS t, to_regclass('_prisma_migrations') AS h`), [{ t: null, h: null }])
  })
})

describe('a host that accepts TCP and never answers', () => {
  let silent: Server
  let port: number
  const times: string[] = []
  before(async () => {
    silent = createServer(() => {})
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    port = (silent.address() as { port: number }).port
  })
  after(async () => {
    silent.close()
    process.stdout.write(`# silent host, seconds to exit: ${times.join(', ')}\n`)
  })
  const url = () => `postgresql://app:Silent-pw-9@127.0.0.1:${port}/app`
  // Nothing listens on port 1: the same command fails at once there, which measures its own start-up on this machine.
  const refused = 'postgresql://app:Silent-pw-9@127.0.0.1:1/app'

  /**
   * Runs `fn(url)` against a refused port, then against the silent host: the silent run may take
   * at most the connect timeout (5 s) plus 5 s more than the refused one, and must name the host.
   */
  const timed = async (label: string, fn: (url: string) => Promise<{ code: number | null; stdout: string; stderr: string }>) => {
    let t0 = performance.now()
    const base = await fn(refused)
    const baseS = (performance.now() - t0) / 1000
    assert.notEqual(base.code, 0, base.stdout + base.stderr)
    t0 = performance.now()
    const r = await fn(url())
    const s = (performance.now() - t0) / 1000
    times.push(`${label} ${s.toFixed(1)} (refused port: ${baseS.toFixed(1)})`)
    const output = r.stdout + r.stderr
    assert.notEqual(r.code, 0, output)
    assert.notEqual(r.code, null, `${label} hung and was killed`)
    assert.ok(s - baseS < 10, `${label} took ${s.toFixed(1)} s, ${baseS.toFixed(1)} s against a refused port`)
    assert.match(output, new RegExp(`127\\.0\\.0\\.1:${port}`), `${label} does not name the host:\n${output}`)
    assert.doesNotMatch(output, /Silent-pw-9/)
    return r
  }

  for (const args of [['migrate', 'status'], ['migrate', 'deploy']]) {
    test(`npx prisma ${args.join(' ')} exits within the connect timeout naming the host`, async () => {
      const project = projectWithMigrations(url())
      try {
        const r = await timed(`npx prisma ${args.join(' ')}`, (u) => run(PRISMA_BIN, args, { cwd: project.dir, env: { DATABASE_URL: u }, timeoutMs: 60_000 }))
        assert.match(r.stdout + r.stderr, /P1001/)
      } finally {
        project.remove()
      }
    })
  }

  test('a script importing src/index.ts fails its first query within the connect timeout naming the host', async () => {
    const script = 'const { prisma } = await import("./src/index.ts"); await prisma.user.count()'
    await timed('import src/index.ts', (u) => run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { DATABASE_URL: u, NODE_ENV: 'test' }, timeoutMs: 60_000 }))
  })

  test('our CLI exits 4 within the connect timeout', async () => {
    const r = await timed('npm run migrate:status', (u) => runCli(['migrate:status'], { url: u, migrationsDir: path.join(FIXTURES, 'basic') }))
    assert.equal(r.code, 4)
  })

  test('?connect_timeout= is honoured (seconds, as libpq and Prisma read it)', async () => {
    const t0 = performance.now()
    const client = new LibpqClient(driverConfig(`${url()}?connect_timeout=1`) as pg.ClientConfig)
    await assert.rejects(client.connect(), /timeout expired \(at PostgreSQL server 127\.0\.0\.1:\d+\)/)
    const ms = performance.now() - t0
    assert.ok(ms >= 900 && ms < 3000, `gave up after ${ms} ms`)
  })
})

describe('sslmode means what it means to libpq', () => {
  test('the driver config: require encrypts without verifying, verify-full verifies, prefer falls back, disable does not ask', async () => {
    assert.equal(await sslOf(primary.url({ params: 'sslmode=require' })), true)
    assert.equal(await sslOf(primary.url({ params: 'sslmode=prefer' })), true)
    assert.equal(await sslOf(primary.url({ params: 'sslmode=disable' })), false)
    await assert.rejects(sslOf(primary.url({ params: 'sslmode=verify-full' })), /self[- ]signed certificate/)
    // The system server has ssl = off: prefer goes on in plain text, require refuses.
    const plain = await serverUrl()
    assert.equal(await sslOf(`${plain}?sslmode=prefer`), false)
    await assert.rejects(sslOf(`${plain}?sslmode=require`), /does not support SSL/)
  })

  test('npx prisma migrate deploy: require works on a self-signed server with Node warnings on, verify-full fails cleanly, prefer falls back', async () => {
    await query(primary.url(), 'CREATE DATABASE tls_deploy')
    const project = projectWithMigrations(primary.url({ database: 'tls_deploy', params: 'sslmode=require' }))
    try {
      // NODE_TLS_REJECT_UNAUTHORIZED=0 makes Node print a warning: it must not reach the CLI as a broken protocol line.
      const r = await project.prisma(['migrate', 'deploy'], { NODE_TLS_REJECT_UNAUTHORIZED: '0' })
      assert.equal(r.code, 0, r.stdout + r.stderr)
      assert.doesNotMatch(r.stdout + r.stderr, /Could not parse schema engine response/)
      const v = await project.prisma(['migrate', 'status'], { DATABASE_URL: primary.url({ database: 'tls_deploy', params: 'sslmode=verify-full' }) })
      assert.notEqual(v.code, 0)
      assert.match(v.stdout + v.stderr, /self[- ]signed certificate/)
      assert.doesNotMatch(v.stdout + v.stderr, /Could not parse schema engine response/)
    } finally {
      project.remove()
    }
    assert.deepEqual(await query(primary.url({ database: 'tls_deploy' }), `SELECT count(*)::int AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL`), [{ n: 3 }])
    const db = await createTestDatabase('tls_prefer')
    const plain = projectWithMigrations(`${db.url}?sslmode=prefer`)
    try {
      const r = await plain.prisma(['migrate', 'deploy'])
      assert.equal(r.code, 0, r.stdout + r.stderr)
    } finally {
      plain.remove()
      await db.drop()
    }
  })

  test('our CLI and the client: require on a self-signed server, prefer on a plain one', async () => {
    const r = await runCli(['migrate:status'], { url: primary.url({ params: 'sslmode=require' }), migrationsDir: path.join(FIXTURES, 'basic') })
    assert.equal(r.code, 1, r.stderr) // three pending
    assert.match(r.stdout, /3 pending|pending/i)
    const p = await runCli(['migrate:status'], { url: `${await serverUrl()}?sslmode=prefer`, migrationsDir: path.join(FIXTURES, 'basic') })
    assert.ok(p.code === 0 || p.code === 1 || p.code === 3, p.stderr)
    const script = 'const { pool } = await import("./src/index.ts"); const r = await pool.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"); console.log(JSON.stringify(r.rows[0])); await pool.end()'
    const c = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { DATABASE_URL: primary.url({ params: 'sslmode=require' }), NODE_ENV: 'test' } })
    assert.equal(c.code, 0, c.stderr)
    assert.equal(c.stdout.trim(), '{"ssl":true}')
  })
})

test('the stand-in keeps the session that may hold the migration lock past pg.Pool\'s 10 s idle timeout', async () => {
  const db = await createTestDatabase('engine_idle')
  const engine = createEngineAdapter({ url: db.url })
  const adapter = await engine.factory.connect()
  try {
    const pid = async () => Number((await adapter.queryRaw({ sql: 'SELECT pg_backend_pid() AS pid', args: [], argTypes: [] })).rows[0]![0])
    const first = await pid()
    await new Promise((r) => setTimeout(r, 11_000))
    assert.equal(await pid(), first, 'the engine session was closed while idle')
  } finally {
    await adapter.dispose()
    await db.drop()
  }
})

test('migrate:create\'s Prisma child works on the server it was given, whatever DIRECT_DATABASE_URL says', async () => {
  const db = await createTestDatabase('create_env')
  mkdirSync(path.join(ROOT, 'test', '.tmp'), { recursive: true })
  const dir = mkdtempSync(path.join(ROOT, 'test', '.tmp', 'create-env-'))
  const saved = process.env.DIRECT_DATABASE_URL
  try {
    cpSync(path.join(FIXTURES, 'create'), dir, { recursive: true })
    // Another server under the name prisma.config.ts reads first: nothing may run there.
    process.env.DIRECT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:1/elsewhere'
    const r = await createMigration({ name: 'add_tags', url: db.url, migrationsDir: path.join(dir, 'migrations'), schemaPath: path.join(dir, 'schema-with-tags.prisma') })
    assert.equal(r.name, '002_add_tags')
    assert.deepEqual(readdirSync(path.join(dir, 'migrations', '002_add_tags')).sort(), ['down.sql', 'migration.sql'])
  } finally {
    if (saved === undefined) delete process.env.DIRECT_DATABASE_URL
    else process.env.DIRECT_DATABASE_URL = saved
    rmSync(dir, { recursive: true, force: true })
    await db.drop()
  }
})

describe('a standby (server in recovery) is never migrated', () => {
  const basic = path.join(FIXTURES, 'basic')
  for (const args of [['migrate'], ['migrate:status'], ['migrate:rollback', '--dry-run'], ['migrate:reset', '--force'], ['migrate:verify'], ['migrate:create', '--name=x_y']]) {
    test(`${args.join(' ')} exits 2 naming the primary's variable`, async () => {
      const r = await runCli(args, { url: standby.url(), migrationsDir: basic })
      assert.equal(r.code, 2, r.stdout + r.stderr)
      assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${standby.port}\` is a standby server`))
      assert.match(r.stderr, /Hint: Point DIRECT_DATABASE_URL \(or DATABASE_URL/)
    })
  }

  test('npx prisma migrate deploy and status are refused by the stand-in', async () => {
    const project = projectWithMigrations(standby.url())
    try {
      for (const args of [['migrate', 'deploy'], ['migrate', 'status']]) {
        const r = await project.prisma(args)
        assert.notEqual(r.code, 0, r.stdout + r.stderr)
        assert.match(r.stdout + r.stderr, /is a standby server \(in recovery, read-only\)/)
        assert.match(r.stdout + r.stderr, /DIRECT_DATABASE_URL/)
      }
    } finally {
      project.remove()
    }
    assert.deepEqual(await query(replicaPrimary.url(), `SELECT to_regclass('_prisma_migrations') AS h`), [{ h: null }])
  })
})

test('a URL without a password against a SCRAM server exits 5 with the fix', async () => {
  const url = primary.url({ user: SCRAM.name })
  const r = await runCli(['migrate:status'], { url, migrationsDir: path.join(FIXTURES, 'basic') })
  assert.equal(r.code, 5, r.stdout + r.stderr)
  assert.match(r.stderr, new RegExp(`asks user \`${SCRAM.name}\` for a password, and the URL has none`))
  assert.match(r.stderr, /Hint: Put the password in the URL/)
  // With the password it works: the refusal was about the password only.
  const ok = await runCli(['migrate:status'], { url: primary.url({ user: SCRAM.name, password: SCRAM.password }), migrationsDir: path.join(FIXTURES, 'basic') })
  assert.equal(ok.code, 1, ok.stderr)
  const project = projectWithMigrations(url)
  try {
    const p = await project.prisma(['migrate', 'status'])
    assert.match(p.stdout + p.stderr, /P1000/)
  } finally {
    project.remove()
  }
})
