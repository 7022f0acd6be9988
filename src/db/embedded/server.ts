// Starting and stopping the postmaster with the package's pg_ctl. The server
// outlives the command that starts it, so Prisma Studio, a second terminal or
// the next command reuse it.
import { readFileSync } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import pg from 'pg'
import { binaries, type Binaries } from './binaries.ts'
import { clearDeadServer } from './cluster.ts'
import { clusterOwner, ensureReachable, run } from './os-user.ts'
import { fileSize, logTail, portFree, type PidInfo } from './server-state.ts'
import { DATABASE, buildUrl, files, nextPorts, rememberPort, type EmbeddedSettings } from './settings.ts'
import { displayPath, errCode, isAlive, sleep, type Log } from './util.ts'

const LOG_ROTATE_BYTES = 10 * 1024 * 1024

export function portTakenError(port: number): Error {
  return new Error(
    `Port ${port} on 127.0.0.1 is already in use by another program, so the embedded PostgreSQL cannot start. ` +
      `Set WATIFY_EMBEDDED_PORT to a free port below 32768 (e.g. WATIFY_EMBEDDED_PORT=${port + 1}), or stop that program.`,
  )
}

/**
 * The port to start on: a port the user set is used as it is (or refused when
 * taken); a remembered or new one moves to the next free port when another
 * program took it meanwhile.
 */
export async function portToUse(s: Pick<EmbeddedSettings, 'port' | 'portSource'>, log: Log): Promise<number> {
  if (await portFree(s.port)) return s.port
  if (s.portSource === 'environment' || s.portSource === '.env') throw portTakenError(s.port)
  for (const candidate of nextPorts(s.port)) {
    if (await portFree(candidate)) {
      if (s.portSource === 'data dir') log(`Port ${s.port} is taken by another program; the embedded PostgreSQL moves to port ${candidate}`)
      return candidate
    }
  }
  throw portTakenError(s.port)
}

/** Stops the postmaster: fast, then immediate, then SIGKILL (e.g. a SIGSTOPped or hung server). */
export async function stopServer(dataDir: string, info: PidInfo, log: Log, patienceSec: number): Promise<void> {
  const b = binaries()
  const as = await clusterOwner(dataDir, log)
  // A SIGSTOPped postmaster would leave every shutdown signal pending: resume it
  // so that it can shut down cleanly (and need no crash recovery next time).
  try {
    const stat = readFileSync(`/proc/${info.pid}/stat`, 'utf8')
    if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'T') process.kill(info.pid, 'SIGCONT')
  } catch {
    // no /proc, or gone
  }
  // A hung server gets a short fast shutdown; a user's `stop` waits for the checkpoint.
  for (const [mode, sec] of [['fast', patienceSec], ['immediate', Math.min(patienceSec, 2)]] as const) {
    const r = await run(b.pgCtl, ['stop', '-D', dataDir, '-m', mode, '-w', '-t', String(sec)], as, (sec + 10) * 1000)
    if (r.code === 0) {
      // pg_ctl returns once the pid file is gone; the postmaster may still be exiting.
      for (let i = 0; i < 60 && isAlive(info.pid); i++) await sleep(50)
      return
    }
    if (!isAlive(info.pid)) return
  }
  try {
    process.kill(info.pid, 'SIGKILL')
  } catch {
    // gone already
  }
  for (let i = 0; i < 100 && isAlive(info.pid); i++) await sleep(50)
  if (isAlive(info.pid)) throw new Error(`Cannot stop the embedded PostgreSQL (pid ${info.pid}). Kill that process, then try again.`)
  await clearDeadServer(dataDir, log)
}

export async function startServer(dataDir: string, port: number, b: Binaries, log: Log): Promise<void> {
  const f = files(dataDir)
  const as = await clusterOwner(dataDir, log)
  await ensureReachable(as, [dataDir, path.join(b.pkgRoot, 'native', 'bin'), path.join(b.pkgRoot, 'native', 'lib')], b, log)
  if (!(await portFree(port))) throw portTakenError(port)
  // pg_ctl opens the log as the server user: make sure that user owns it.
  if ((await fileSize(f.log)) > LOG_ROTATE_BYTES) await fs.rename(f.log, `${f.log}.1`)
  const fh = await fs.open(f.log, 'a', 0o600)
  await fh.close()
  if (as.uid !== undefined) await fs.chown(f.log, as.uid, as.gid!)
  const opts = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`
  const deadline = Date.now() + 15_000
  for (;;) {
    const from = await fileSize(f.log)
    const r = await run(b.pgCtl, ['start', '-D', dataDir, '-l', f.log, '-w', '-t', '60', '-o', opts], as)
    if (r.code === 0) return rememberPort(dataDir, port)
    const tail = await logTail(f.log, from)
    if (/could not bind|Address already in use/i.test(tail)) throw portTakenError(port)
    // After a SIGKILLed postmaster its children take a moment to notice and exit.
    if (/pre-existing shared memory block|lock file .* already exists/i.test(tail) && Date.now() < deadline) {
      await sleep(300)
      continue
    }
    throw new Error(
      `The embedded PostgreSQL failed to start (data: ${displayPath(dataDir)}, log: ${displayPath(f.log)}):\n` +
        `${(tail || r.out.trim()).split('\n').slice(-15).join('\n')}`,
    )
  }
}

export async function ensureDatabase(port: number, password: string): Promise<void> {
  const client = new pg.Client({ connectionString: buildUrl(port, password, 'postgres'), connectionTimeoutMillis: 10_000 })
  client.on('error', () => undefined)
  await client.connect()
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE])
    if (found.rowCount) return
    try {
      await client.query(`CREATE DATABASE ${DATABASE} ENCODING 'UTF8' TEMPLATE template0`)
    } catch (err) {
      if (errCode(err) !== '42P04') throw err // 42P04: created meanwhile
    }
  } finally {
    await client.end().catch(() => undefined)
  }
}
