// The cluster on disk: created once by initdb (atomically, in a scratch folder
// renamed into place), checked before use, and cleared of a dead server's leftovers.
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readlinkSync, realpathSync } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { Binaries } from './binaries.ts'
import { ensureReachable, run, serverUser } from './os-user.ts'
import { readPidFile } from './server-state.ts'
import { PASSWORD_FILE, PG_MAJOR, PORT_FILE, USER, files } from './settings.ts'
import { displayPath, errCode, isAlive, sleep, type Log } from './util.ts'

export async function initCluster(dataDir: string, port: number, b: Binaries, log: Log): Promise<void> {
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
    await fs.writeFile(path.join(target, PORT_FILE), `${port}\n`, { mode: 0o644 })
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
export async function clusterState(dataDir: string): Promise<'missing' | 'ready'> {
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
export async function clearDeadServer(dataDir: string, log: Log): Promise<'cleared' | 'live'> {
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
