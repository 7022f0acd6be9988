// The state machine behind every use of the embedded server: whatever state the
// data dir is in (no cluster, stopped, running, killed, hung), reach "running
// and answering", under the lock. A running server is never stopped or moved to
// another port here, except a hung one when the caller (`db:start`) asks for it.
import fs from 'node:fs/promises'
import path from 'node:path'
import { binaries, hydrateSymlinks } from './binaries.ts'
import { clearDeadServer, clusterState, initCluster } from './cluster.ts'
import { withLock } from './lock.ts'
import { probe, readPassword, readPidFile } from './server-state.ts'
import { ensureDatabase, portToUse, startServer, stopServer } from './server.ts'
import { buildUrl, embeddedSettings, files, type EmbeddedSettings } from './settings.ts'
import { displayPath, errCode, sleep, type Log } from './util.ts'

export interface EmbeddedServer {
  url: string
  port: number
  dataDir: string
  startedNow: boolean
}

export interface EnsureOptions {
  log?: Log
  /** Stop and restart a server that runs but does not answer (only `db:start` asks; every other command reports it). */
  restartUnresponsive?: boolean
}

function passwordRejected(dataDir: string): Error {
  return new Error(
    `The embedded PostgreSQL rejected the password in ${displayPath(files(dataDir).password)}. ` +
      `Restore the original file, or stop the server (npm run db:stop) and delete ${displayPath(dataDir)} to start afresh (this deletes its data).`,
  )
}

/** The running server's port and password, when this data dir's server is up and the app database answers. */
async function answering(dataDir: string): Promise<{ port: number; password: string } | null> {
  const info = readPidFile(dataDir)
  if (!info?.ours || info.status !== 'ready') return null
  const password = await readPassword(dataDir)
  if (!password) return null
  return (await probe(buildUrl(info.port, password))) ? null : { port: info.port, password }
}

/** A running server stays where it is; say so when the user asked for another port. */
function noteOtherPort(s: EmbeddedSettings, running: number, log: Log): void {
  if (running !== s.port && (s.portSource === 'environment' || s.portSource === '.env')) {
    log(`Embedded PostgreSQL is running on port ${running}; WATIFY_EMBEDDED_PORT=${s.port} takes effect after \`npm run db:stop\``)
  }
}

async function ensureLocked(s: EmbeddedSettings, opts: EnsureOptions, log: Log, attempt = 1): Promise<EmbeddedServer> {
  const { dataDir } = s
  const b = binaries()
  let info = readPidFile(dataDir)
  if (info?.pid === 0) {
    await sleep(200) // caught half-written by a starting server: read again
    info = readPidFile(dataDir)
  }
  if (info?.ours) {
    const port = info.port
    const where = `127.0.0.1:${port} (data: ${displayPath(dataDir)})`
    noteOtherPort(s, port, log)
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
        if (!opts.restartUnresponsive) {
          throw new Error(
            `The embedded PostgreSQL (pid ${info.pid}) runs but does not answer on ${where}. ` +
              'Run `npm run db:start` to restart it (or `npm run db:stop`).',
          )
        }
        log(`Embedded PostgreSQL (pid ${info.pid}) is not answering on port ${port}; stopping it`)
        await stopServer(dataDir, info, log, 3)
        break
      }
      await sleep(200)
    }
  } else if (info) {
    // The postmaster was killed (or the machine rebooted and its pid was recycled).
    log(`Embedded PostgreSQL was not shut down cleanly (pid ${info.pid} is gone); recovering`)
    if ((await clearDeadServer(dataDir, log)) === 'live' && attempt < 3) return ensureLocked(s, opts, log, attempt + 1)
  }

  await hydrateSymlinks(b)
  // Fail on a taken port before the slow initdb; a remembered port moves when taken.
  const port = await portToUse(s, log)
  if ((await clusterState(dataDir)) === 'missing') await initCluster(dataDir, port, b, log)
  await startServer(dataDir, port, b, log)
  const where = `127.0.0.1:${port} (data: ${displayPath(dataDir)})`
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

/** Reaches a running, answering server for this project (starting it when needed) and returns its URL. */
export async function ensureEmbeddedServer(opts: EnsureOptions = {}): Promise<EmbeddedServer> {
  const log = opts.log ?? (() => undefined)
  const s = embeddedSettings()
  // Fast path, no lock and no writes: already up and answering.
  const up = await answering(s.dataDir)
  if (up) {
    noteOtherPort(s, up.port, log)
    return { url: buildUrl(up.port, up.password), port: up.port, dataDir: s.dataDir, startedNow: false }
  }
  await fs.mkdir(path.dirname(s.dataDir), { recursive: true })
  return withLock(files(s.dataDir).lock, () => ensureLocked(s, opts, log))
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

/** Running or not, on which port; reads files only (never starts, stops or connects). */
export async function embeddedServerStatus(): Promise<{ running: boolean; port: number; dataDir: string; pid?: number }> {
  const { dataDir, port } = embeddedSettings()
  const info = readPidFile(dataDir)
  if (info?.ours) return { running: true, port: info.port, dataDir, pid: info.pid }
  return { running: false, port, dataDir }
}
