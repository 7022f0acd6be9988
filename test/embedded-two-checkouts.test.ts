// Two checkouts of the project on one machine, with nothing configured: each
// gets its own embedded server on its own port, remembered with its data, and
// read-only commands (db:config, db:test, migrate:status, prisma migrate status)
// never stop, restart or move a running server, not even with WATIFY_EMBEDDED_PORT set.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, describe, test } from 'node:test'
import { ROOT } from './fixtures/cli.ts'

const base = mkdtempSync(path.join(os.tmpdir(), 'watify-checkouts-'))
chmodSync(base, 0o755) // reachable by the postgres OS user when run as root

/** A copy of the project as a second `git clone` would have it, sharing node_modules. */
function checkout(name: string): string {
  const dir = path.join(base, name)
  mkdirSync(dir)
  for (const f of ['package.json', 'prisma.config.ts', 'bin', 'src', 'prisma']) cpSync(path.join(ROOT, f), path.join(dir, f), { recursive: true })
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'))
  return dir
}

const a = checkout('a')
const b = checkout('b')

function run(dir: string, cmd: string, args: string[], extra: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!/^(DATABASE_URL|WATIFY_|MIGRATIONS_DIR|npm_)/.test(k)) env[k] = v
  Object.assign(env, extra)
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c))
    child.stderr.on('data', (c: Buffer) => (stderr += c))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

const cli = (dir: string, args: string[], extra?: Record<string, string>) => run(dir, process.execPath, [path.join(dir, 'bin', 'watify.mjs'), ...args], extra)
const pidFile = (dir: string) => path.join(dir, '.data', 'postgres', 'postmaster.pid')
/** pid and port of the checkout's running postmaster, from its postmaster.pid. */
function server(dir: string): { pid: number; port: number } {
  const lines = readFileSync(pidFile(dir), 'utf8').split('\n')
  return { pid: Number(lines[0]), port: Number(lines[3]) }
}

after(async () => {
  for (const dir of [a, b]) if (existsSync(pidFile(dir))) await cli(dir, ['db:stop'])
  rmSync(base, { recursive: true, force: true })
})

describe('two checkouts on one machine', () => {
  test('each gets its own server and port with no variable set; read-only commands leave a running server alone', async () => {
    const startA = await cli(a, ['db:start'])
    assert.equal(startA.code, 0, startA.stderr)
    const startB = await cli(b, ['db:start'])
    assert.equal(startB.code, 0, startB.stderr)
    const sa = server(a)
    const sb = server(b)
    assert.notEqual(sa.port, sb.port)
    assert.equal(startA.stdout, `Started: embedded PostgreSQL at postgresql://postgres:****@127.0.0.1:${sa.port}/watify\n`)
    assert.equal(startB.stdout, `Started: embedded PostgreSQL at postgresql://postgres:****@127.0.0.1:${sb.port}/watify\n`)
    for (const [dir, s] of [[a, sa], [b, sb]] as const) {
      assert.equal(readFileSync(path.join(dir, '.data', 'postgres', 'watify.port'), 'utf8'), `${s.port}\n`, 'remembered with the data')
    }

    const otherPort = String(sb.port === 32000 ? 32001 : 32000)
    const readOnly: [string, () => ReturnType<typeof run>][] = [
      ['db:config', () => cli(a, ['db:config'])],
      ['db:test', () => cli(a, ['db:test'])],
      ['migrate:status', () => cli(a, ['migrate:status'])],
      ['db:test with WATIFY_EMBEDDED_PORT set to another port', () => cli(a, ['db:test'], { WATIFY_EMBEDDED_PORT: otherPort })],
      ['migrate:status with WATIFY_EMBEDDED_PORT', () => cli(a, ['migrate:status'], { WATIFY_EMBEDDED_PORT: otherPort })],
      ['npx prisma migrate status', () => run(a, path.join(a, 'node_modules', '.bin', 'prisma'), ['migrate', 'status'])],
    ]
    for (const [name, cmd] of readOnly) {
      const r = await cmd()
      assert.ok(r.code === 0 || r.code === 1, `${name}: ${r.stderr}`) // 1: migrations pending
      assert.ok(!/(started|stopping|restarting)/i.test(r.stderr), `${name}: ${r.stderr}`)
      assert.deepEqual(server(a), sa, `${name} left checkout a's server as it was`)
      assert.deepEqual(server(b), sb, `${name} left checkout b's server as it was`)
    }
    const cfg = await cli(a, ['db:config'])
    assert.ok(cfg.stdout.includes(`\nStatus:   running (pid ${sa.pid})\nHost:     127.0.0.1\nPort:     ${sa.port}\n`), cfg.stdout)
    const noted = await cli(a, ['db:test'], { WATIFY_EMBEDDED_PORT: otherPort })
    assert.ok(noted.stderr.includes(`Embedded PostgreSQL is running on port ${sa.port}; WATIFY_EMBEDDED_PORT=${otherPort} takes effect after \`npm run db:stop\``), noted.stderr)

    // Stopped and started again, with nothing set: the same port as before.
    assert.equal((await cli(a, ['db:stop'])).stdout, `Stopped: embedded PostgreSQL (port ${sa.port})\n`)
    const again = await cli(a, ['db:start'])
    assert.equal(again.stdout, `Started: embedded PostgreSQL at postgresql://postgres:****@127.0.0.1:${sa.port}/watify\n`)
    assert.deepEqual(server(b), sb)
  })
})
