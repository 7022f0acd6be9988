// A real PgBouncer (Debian's `pgbouncer` package) in transaction mode in front
// of the test server, started by the test on a free loopback port: config and
// auth file in a temp folder, removed on stop. PgBouncer refuses to run as root
// ("PgBouncer should not run as root"), so as root it runs as `nobody`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chownSync, mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createConnection } from 'node:net'

import { freePort } from './browser.ts'

export const PGBOUNCER_BIN = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((p) => existsSync(p))

/** Why PgBouncer tests cannot run here, or undefined when they can. */
export function pgbouncerSkipReason(): string | undefined {
  if (!PGBOUNCER_BIN) return 'pgbouncer is not installed (Debian: apt-get install -y pgbouncer; .ci/run installs it)'
  return undefined
}

export interface PgBouncer {
  port: number
  /** `url` (a direct URL to the test server) rewritten to go through this PgBouncer. */
  pooled(url: string): string
  /** PgBouncer's log so far (for failure messages). */
  log(): string
  stop(): Promise<void>
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = createConnection({ port, host: '127.0.0.1' })
      s.once('connect', () => {
        s.destroy()
        resolve()
      })
      s.once('error', () => {
        s.destroy()
        if (Date.now() > deadline) reject(new Error(`PgBouncer did not listen on 127.0.0.1:${port} within ${timeoutMs}ms`))
        else setTimeout(attempt, 50)
      })
    }
    attempt()
  })
}

/** Starts PgBouncer in `pool_mode = transaction` (pool size `poolSize`) in front of the server of `serverUrl`. */
export async function startPgBouncer(serverUrl: string, opts: { poolSize?: number } = {}): Promise<PgBouncer> {
  if (!PGBOUNCER_BIN) throw new Error(pgbouncerSkipReason())
  const server = new URL(serverUrl)
  const user = decodeURIComponent(server.username) || 'postgres'
  const dir = mkdtempSync(path.join(tmpdir(), 'watify-pgbouncer-'))
  const port = await freePort()
  const logFile = path.join(dir, 'pgbouncer.log')
  const ini = path.join(dir, 'pgbouncer.ini')
  const users = path.join(dir, 'userlist.txt')
  writeFileSync(
    ini,
    [
      '[databases]',
      // Every database name maps to the same name on the test server.
      `* = host=${server.hostname} port=${server.port || 5432}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      // The test server trusts loopback; PgBouncer still wants the user listed in auth_file.
      'auth_type = trust',
      `auth_file = ${users}`,
      'pool_mode = transaction',
      `default_pool_size = ${opts.poolSize ?? 4}`,
      'max_client_conn = 500',
      `logfile = ${logFile}`,
      '',
    ].join('\n'),
  )
  // Trusted clients; PgBouncer logs in to the server with this password (none on a trust server).
  const password = decodeURIComponent(server.password)
  writeFileSync(users, `"${user.replace(/"/g, '""')}" "${password.replace(/"/g, '""')}"\n`, { mode: 0o600 })
  const asRoot = process.getuid?.() === 0
  let uid: number | undefined
  let gid: number | undefined
  if (asRoot) {
    const id = (flag: string) => Number(spawnSync('id', [flag, 'nobody'], { encoding: 'utf8' }).stdout.trim())
    uid = id('-u')
    gid = id('-g')
    for (const f of [dir, ini, users]) chownSync(f, uid, gid)
  }
  const child: ChildProcess = spawn(PGBOUNCER_BIN, [ini], { stdio: ['ignore', 'pipe', 'pipe'], ...(asRoot ? { uid, gid } : {}) })
  let output = ''
  child.stdout!.on('data', (d) => (output += d))
  child.stderr!.on('data', (d) => (output += d))
  const log = () => output + (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '')
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT') // immediate shutdown
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))])
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await Promise.race([
      waitForPort(port, 10_000),
      exited.then(() => {
        throw new Error(`PgBouncer exited at start:\n${log()}`)
      }),
    ])
  } catch (err) {
    await stop()
    throw err
  }
  return {
    port,
    pooled(url: string) {
      const u = new URL(url)
      u.hostname = '127.0.0.1'
      u.port = String(port)
      return u.toString()
    },
    log,
    stop,
  }
}
