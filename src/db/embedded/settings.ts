// Where the embedded server lives and which port it uses.
//
// Layout, for data dir D = <parent>/<name>:
//   D                      the cluster (owned by the OS user that runs PostgreSQL)
//   D/watify.password      the random password of the `postgres` role (0600)
//   D/watify.port          the port this cluster uses, chosen at its first start
//   <parent>/<name>.log    server log (pg_ctl -l)
//   <parent>/<name>.lock   exclusive lock while a process starts/stops the server
//
// The port is remembered with the data so that two checkouts on one machine
// each keep their own server with nothing to configure: a new cluster starts
// from a port derived from its folder's path (two checkouts rarely share one)
// and moves on to the next free port when that one is taken.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import { configValue, projectRoot } from '../config.ts'

export const USER = 'postgres'
export const DATABASE = 'watify'
export const PG_MAJOR = '17'
export const PASSWORD_FILE = 'watify.password'
export const PORT_FILE = 'watify.port'

// Below the ephemeral range (32768+), where the OS hands out client ports.
const PORT_MIN = 25432
const PORT_SPAN = 7000

/** Where the port came from: WATIFY_EMBEDDED_PORT, the data dir's memory, or derived from the path. */
export type PortSource = 'environment' | '.env' | 'data dir' | 'new'

export interface EmbeddedSettings {
  port: number
  portSource: PortSource
  dataDir: string
  user: string
  database: string
}

export function files(dataDir: string) {
  const parent = path.dirname(dataDir)
  const name = path.basename(dataDir)
  return {
    parent,
    log: path.join(parent, `${name}.log`),
    lock: path.join(parent, `${name}.lock`),
    password: path.join(dataDir, PASSWORD_FILE),
    port: path.join(dataDir, PORT_FILE),
    pidFile: path.join(dataDir, 'postmaster.pid'),
  }
}

export function buildUrl(port: number, password: string, database = DATABASE): string {
  return `postgresql://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`
}

/** The first port tried for a new cluster in `dataDir`: stable for a folder, different between folders. */
export function preferredPort(dataDir: string): number {
  return PORT_MIN + (createHash('sha256').update(path.resolve(dataDir)).digest().readUInt32BE(0) % PORT_SPAN)
}

/** The ports to try after `port`, within the range, wrapping around. */
export function nextPorts(port: number): number[] {
  const out: number[] = []
  for (let i = 1; i < PORT_SPAN; i++) out.push(PORT_MIN + ((port - PORT_MIN + i) % PORT_SPAN))
  return out
}

function rememberedPort(dataDir: string): number | null {
  try {
    const n = Number(readFileSync(files(dataDir).port, 'utf8').trim())
    return Number.isInteger(n) && n >= 1024 && n <= 65535 ? n : null
  } catch {
    return null
  }
}

export async function rememberPort(dataDir: string, port: number): Promise<void> {
  if (rememberedPort(dataDir) !== port) await fs.writeFile(files(dataDir).port, `${port}\n`, { mode: 0o644 })
}

export function embeddedSettings(): EmbeddedSettings {
  // From the environment, else from .env (as DATABASE_URL is).
  const rawDir = configValue('WATIFY_EMBEDDED_DIR')?.value
  // A relative override is taken from the project root, like the default, so it
  // does not depend on the folder a command happens to be run from.
  const dataDir = rawDir ? path.resolve(projectRoot(), rawDir) : path.join(projectRoot(), '.data', 'postgres')
  const base = { dataDir, user: USER, database: DATABASE }
  const configured = configValue('WATIFY_EMBEDDED_PORT')
  if (configured) {
    const raw = configured.value
    const port = Number(raw)
    if (!/^\d+$/.test(raw) || port < 1024 || port > 65535) {
      throw new Error(`WATIFY_EMBEDDED_PORT must be a port number from 1024 to 65535 (below 32768 avoids the ephemeral range), got \`${raw}\`.`)
    }
    return { port, portSource: configured.source, ...base }
  }
  const remembered = rememberedPort(dataDir)
  if (remembered !== null) return { port: remembered, portSource: 'data dir', ...base }
  return { port: preferredPort(dataDir), portSource: 'new', ...base }
}
