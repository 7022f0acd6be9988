// What the data dir says about its server (postmaster.pid, password), and
// whether it answers: read-only checks, safe without the lock.
import { existsSync, readFileSync, readlinkSync, realpathSync } from 'node:fs'
import fs from 'node:fs/promises'
import net from 'node:net'
import pg from 'pg'
import { files } from './settings.ts'
import { isAlive } from './util.ts'

export interface PidInfo {
  pid: number
  port: number
  status: string
  /** alive and really a postmaster of this data dir (not a recycled pid) */
  ours: boolean
  alive: boolean
}

export function readPidFile(dataDir: string): PidInfo | null {
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

export async function readPassword(dataDir: string): Promise<string | null> {
  try {
    return (await fs.readFile(files(dataDir).password, 'utf8')).trim()
  } catch {
    return null
  }
}

/** One connection attempt; resolves to null when fine, else the error. */
export async function probe(url: string, timeoutMs = 3000): Promise<(Error & { code?: string }) | null> {
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

export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer()
    srv.once('error', () => resolve(false))
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)))
  })
}

export async function logTail(logPath: string, fromByte: number, lines = 15): Promise<string> {
  try {
    const buf = await fs.readFile(logPath)
    const text = buf.subarray(Math.min(fromByte, buf.length)).toString('utf8')
    return text.trim().split('\n').slice(-lines).join('\n')
  } catch {
    return ''
  }
}

export async function fileSize(p: string): Promise<number> {
  try {
    return (await fs.stat(p)).size
  } catch {
    return 0
  }
}
