// The smaller edges of the migration commands: empty or missing folders,
// nothing to roll back, a verify killed part-way, roles that lack a grant, a
// server that drops the connection. Real CLI processes, exact exit codes.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { spawn } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { adminQuery, createTestDatabase, query, withDatabase, type TestDatabase } from './helpers/db.ts'
import { cleanEnv, collect, FIXTURES, LAUNCHER, ROOT, runCli } from './fixtures/cli.ts'

const basic = path.join(FIXTURES, 'basic')

describe('edges', () => {
  let db: TestDatabase
  before(async () => {
    db = await createTestDatabase('cli_edges')
  })
  after(async () => {
    await db.drop()
  })

  test('--migrations-dir= (empty) and a missing folder exit 2 and touch nothing', async () => {
    const empty = await runCli(['migrate', '--migrations-dir='], { url: db.url })
    assert.equal(empty.code, 2, empty.stderr)
    assert.equal(empty.err[0], '! `--migrations-dir` needs a folder.')
    const missing = path.join(ROOT, 'test', '.tmp', 'no-such-migrations')
    const m = await runCli(['migrate:rollback'], { url: db.url, migrationsDir: missing })
    assert.equal(m.code, 2, m.stderr)
    assert.equal(m.err[0], `Error: Migrations folder \`${missing}\` does not exist.`)
    assert.deepEqual(await query(db.url, `SELECT to_regclass('_prisma_migrations') AS t`), [{ t: null }])
  })

  test('nothing to roll back exits 0', async () => {
    const fresh = await createTestDatabase('cli_edges_empty')
    try {
      const r = await runCli(['migrate:rollback'], { url: fresh.url, migrationsDir: basic })
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.out.at(-1), 'Nothing to roll back: no migrations are applied')
    } finally {
      await fresh.drop()
    }
  })

  test('a migrate:verify killed part-way leaves no throwaway database after the next run', async () => {
    const slow = path.join(FIXTURES, 'slow')
    const child = spawn(process.execPath, [LAUNCHER, 'migrate:verify'], { cwd: ROOT, env: cleanEnv({ DATABASE_URL: db.url, MIGRATIONS_DIR: slow }), stdio: ['ignore', 'pipe', 'pipe'] })
    const done = collect(child)
    await new Promise<void>((resolve) => {
      let buf = ''
      child.stdout!.on('data', (d) => {
        buf += d
        if (buf.includes('Using: throwaway database')) resolve()
      })
    })
    await new Promise((r) => setTimeout(r, 500))
    child.kill('SIGKILL')
    await done
    const leftovers = () => query<{ datname: string }>(db.url, `SELECT datname FROM pg_database WHERE datname LIKE $1`, [`${db.name}_verify_%`])
    assert.equal((await leftovers()).length, 1, 'the kill left its throwaway database behind')
    // The server ends the dead client's session within a second or so (client_connection_check_interval).
    for (let i = 0; i < 50; i++) {
      const busy = await query(db.url, `SELECT 1 FROM pg_stat_activity WHERE datname LIKE $1`, [`${db.name}_verify_%`])
      if (!busy.length) break
      await new Promise((r) => setTimeout(r, 200))
    }
    const [left] = await leftovers()
    const r = await runCli(['migrate:verify'], { url: db.url, migrationsDir: basic })
    assert.equal(r.code, 0, r.stderr)
    assert.ok(r.out.includes(`Dropped: throwaway database ${left!.datname}, left by a verify that was stopped`), r.stdout)
    assert.deepEqual(await leftovers(), [])
  })

  test('a role without rights on the schema, or without CREATEDB, gets the grant it lacks', async () => {
    const role = `watify_edge_${process.pid}`
    // A password, so this works on a server that checks them (the embedded one) as on a trust server.
    const password = randomBytes(12).toString('hex')
    await adminQuery(`DROP ROLE IF EXISTS ${role}`)
    await adminQuery(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`)
    const fresh = await createTestDatabase('cli_edges_grant')
    try {
      // PostgreSQL 15+: only the owner may create in public. Make that so on older servers too.
      await query(fresh.url, `REVOKE CREATE ON SCHEMA public FROM PUBLIC`)
      const u = new URL(fresh.url)
      u.username = role
      u.password = password
      const r = await runCli(['migrate'], { url: u.toString(), migrationsDir: basic })
      assert.equal(r.code, 1, r.stderr)
      assert.deepEqual(r.err, [
        'Error: Cannot create the migration history table: permission denied for schema public.',
        `Hint: User \`${role}\` may not create objects in schema \`public\` (PostgreSQL 15 no longer lets every user create in \`public\`). As its owner or a superuser: \`GRANT USAGE, CREATE ON SCHEMA "public" TO "${role}";\``,
      ])
      const v = await runCli(['migrate:verify'], { url: u.toString(), migrationsDir: basic })
      assert.equal(v.code, 1, v.stderr)
      assert.ok(v.err.includes(`Hint: Grant it: \`ALTER ROLE ${role} CREATEDB\`, or use the embedded server (unset DATABASE_URL)`), v.stderr)
    } finally {
      await fresh.drop()
      await adminQuery(`DROP ROLE IF EXISTS ${role}`)
    }
  })

  test('a host that accepts and drops the connection exits 4 (unreachable), not 1', async () => {
    const server = net.createServer((socket) => socket.destroy())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as net.AddressInfo).port
    try {
      const url = withDatabase(`postgresql://postgres@127.0.0.1:${port}/`, 'x')
      const r = await runCli(['migrate:status'], { url, migrationsDir: basic })
      assert.equal(r.code, 4, r.stderr)
      assert.match(r.err[0]!, new RegExp(`^Error: The server at \`127\\.0\\.0\\.1:${port}\` (dropped|closed) the connection while connecting`))
    } finally {
      server.close()
    }
  })
})
