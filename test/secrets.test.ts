// No password anywhere: a role with a password on the test server, used through
// every documented command as a user runs them (real processes), with DEBUG=*;
// the password must never show in their output nor in any process's argument
// list (`ps -ww`) while they run, whether the URL carries it percent-encoded or raw.
// (On a server with trust authentication the password is not checked, but it is
// still sent, and must still not appear.)
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'

import { runProcess } from '../src/process.ts'
import { adminQuery, createTestDatabase, type TestDatabase } from './helpers/db.ts'
import { cleanEnv, LAUNCHER, ROOT } from './fixtures/cli.ts'

// Distinctive pieces, so a leak of any part of the password is found.
const PASSWORD = 'Zq9Kx@Wv/Jp:Yt%Rm#Lh?Ns'
const PIECES = ['Zq9Kx', 'Wv/Jp', 'Yt%Rm', 'Lh?Ns', 'Wv%2FJp', 'Zq9Kx%40']

const leaks = (text: string): string[] => PIECES.filter((p) => text.includes(p))

interface Ran {
  code: number | null
  output: string
  /** Every argument list seen in `ps -ww` while the command ran. */
  processes: string[]
}

/** Runs a command as a user would and samples `ps -eo args -ww` until it ends. */
async function runWatched(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Ran> {
  const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  const exited = new Promise<number | null>((r) => child.on('close', r))
  let running = true
  void exited.then(() => (running = false))
  const processes = new Set<string>()
  while (running) {
    const ps = await runProcess('ps', ['-eo', 'args', '-ww'])
    for (const line of ps.stdout.split('\n')) processes.add(line)
  }
  return { code: await exited, output, processes: [...processes] }
}

describe('no password anywhere', { concurrency: false }, () => {
  let db: TestDatabase
  let role: string
  let encodedUrl: string
  let rawServerUrl: URL

  before(async () => {
    db = await createTestDatabase('secrets')
    role = `t_secret_${randomBytes(4).toString('hex')}`
    await adminQuery(`CREATE ROLE ${role} LOGIN PASSWORD '${PASSWORD.replace(/'/g, "''")}'`)
    await adminQuery(`ALTER DATABASE ${db.name} OWNER TO ${role}`)
    rawServerUrl = new URL(db.url)
    const u = new URL(db.url)
    u.username = role
    u.password = encodeURIComponent(PASSWORD)
    encodedUrl = u.toString()
  })
  after(async () => {
    await db?.drop()
    if (role) await adminQuery(`DROP ROLE IF EXISTS ${role}`)
  })

  test('percent-encoded: migrate, status, seed, db:config, db:test and the Prisma CLI, with DEBUG=*; never in output or `ps`', async () => {
    const env = cleanEnv({ DATABASE_URL: encodedUrl, DEBUG: '*' })
    const commands: Array<[string, string[]]> = [
      ['npx', ['prisma', 'migrate', 'deploy']],
      ['npx', ['prisma', 'migrate', 'status']],
      [process.execPath, [LAUNCHER, 'migrate:status']],
      ['npm', ['run', '--silent', 'seed']],
      [process.execPath, [LAUNCHER, 'db:config']],
      [process.execPath, [LAUNCHER, 'db:test']],
    ]
    let sawEngine = false
    for (const [cmd, args] of commands) {
      const r = await runWatched(cmd, args, env)
      const what = `${cmd} ${args.join(' ')}`
      assert.equal(r.code, 0, `${what}: ${r.output.slice(-2000)}`)
      assert.deepEqual(leaks(r.output), [], `${what} printed the password`)
      const shown = r.processes.filter((p) => leaks(p).length > 0)
      assert.deepEqual(shown, [], `${what}: the password is in a process's arguments`)
      sawEngine ||= r.processes.some((p) => p.includes('schema-engine') && p.includes(role))
    }
    // The sampling did see the engine stand-in with its --datasource (so the check above means something).
    assert.ok(sawEngine, 'the schema engine stand-in was never seen in ps')
  })

  test('a raw password with `@` and `/` is refused with a hint to percent-encode, never echoed', async () => {
    const raw = `postgresql://${role}:${PASSWORD}@${rawServerUrl.host}/${db.name}`
    const env = cleanEnv({ DATABASE_URL: raw })
    const cases: Array<[string, string[], number]> = [
      [process.execPath, [LAUNCHER, 'migrate'], 2],
      [process.execPath, [LAUNCHER, 'migrate:status'], 2],
      [process.execPath, [LAUNCHER, 'db:config'], 2],
      ['npm', ['run', '--silent', 'seed'], 1],
      ['npx', ['prisma', 'migrate', 'deploy'], 1],
    ]
    for (const [cmd, args, code] of cases) {
      const r = await runWatched(cmd, args, env)
      const what = `${cmd} ${args.join(' ')}`
      assert.equal(r.code, code, `${what}: ${r.output}`)
      assert.match(r.output, /Percent-encode special characters/, what)
      assert.deepEqual(leaks(r.output), [], `${what} printed part of the password`)
      assert.ok(!r.output.includes(rawServerUrl.host), `${what} echoed the URL`)
    }
  })

  test('a raw `@` alone parses as the driver reads it and is masked whole', async () => {
    const pw = 'Zq9Kx@Wv'
    await adminQuery(`ALTER ROLE ${role} PASSWORD '${pw}'`)
    try {
      const url = `postgresql://${role}:${pw}@${rawServerUrl.host}/${db.name}`
      const r = await runWatched(process.execPath, [LAUNCHER, 'db:config'], cleanEnv({ DATABASE_URL: url }))
      assert.equal(r.code, 0, r.output)
      assert.ok(r.output.includes(`URL:      postgresql://${role}:****@${rawServerUrl.host}/${db.name}\n`), r.output)
      assert.deepEqual(leaks(r.output), [])
      const t = await runWatched(process.execPath, [LAUNCHER, 'db:test'], cleanEnv({ DATABASE_URL: url }))
      assert.equal(t.code, 0, t.output)
      assert.deepEqual(leaks(t.output), [])
    } finally {
      await adminQuery(`ALTER ROLE ${role} PASSWORD '${PASSWORD.replace(/'/g, "''")}'`)
    }
  })
})
