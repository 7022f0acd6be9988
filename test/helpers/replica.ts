// A primary and a streaming standby for tests and the bench: each its own cluster in a temp
// folder, on a free loopback port, trust auth, started with the PostgreSQL binaries the
// project already uses: the system's (WATIFY_PG_BIN, else /usr/lib/postgresql/<newest>/bin,
// which has pg_basebackup) or the embedded PostgreSQL 17 (initdb/pg_ctl/postgres only: the
// standby is then a copy of the stopped primary's data folder). The standby gets
// standby.signal and primary_conninfo (pg_basebackup -R, or written by hand for the copy).
// As root the servers run as the OS user `postgres` (src/db/embedded/os-user.ts).
// Everything is removed by stop().
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, appendFileSync, chownSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'

import { binaries } from '../../src/db/embedded/binaries.ts'
import { run, serverUser, type RunAs } from '../../src/db/embedded/os-user.ts'
import { freePort } from './browser.ts'

export interface PgServer {
  port: number
  dataDir: string
  /** postgresql://postgres@127.0.0.1:<port>/<database> */
  url(database?: string): string
  start(): Promise<void>
  /** pg_ctl stop (fast: open sessions are ended). */
  stop(): Promise<void>
  running: boolean
}

interface Tools {
  initdb: string
  pgCtl: string
  basebackup?: string
}

function tools(): Tools {
  const dirs = process.env.WATIFY_PG_BIN ? [process.env.WATIFY_PG_BIN] : (() => {
    const root = '/usr/lib/postgresql'
    if (!existsSync(root)) return []
    return readdirSync(root).sort((a, b) => Number(b) - Number(a)).map((v) => path.join(root, v, 'bin'))
  })()
  for (const dir of dirs) {
    if (existsSync(path.join(dir, 'initdb')) && existsSync(path.join(dir, 'pg_basebackup'))) {
      return { initdb: path.join(dir, 'initdb'), pgCtl: path.join(dir, 'pg_ctl'), basebackup: path.join(dir, 'pg_basebackup') }
    }
  }
  const b = binaries()
  return { initdb: b.initdb, pgCtl: b.pgCtl }
}

const SETTINGS = [
  'listen_addresses=127.0.0.1',
  'wal_level=replica',
  'max_wal_senders=4',
  'hot_standby=on',
  'hot_standby_feedback=on',
  // A test machine: no fsync (commits still wait for their WAL write, as in production), small memory.
  'fsync=off',
  'full_page_writes=off',
  'shared_buffers=32MB',
  'max_connections=60',
]

async function ok(what: string, r: Promise<{ code: number | null; out: string }>): Promise<void> {
  const { code, out } = await r
  if (code !== 0) throw new Error(`${what} failed (exit ${code}): ${out.trim()}`)
}

export class ReplicaCluster {
  readonly dir: string
  private readonly t = tools()
  private as: RunAs = {}
  readonly servers: PgServer[] = []

  constructor() {
    this.dir = mkdtempSync(path.join(tmpdir(), 'watify-replica-'))
  }

  /** pg_basebackup is there (system binaries) or the standby is a cold copy (embedded binaries). */
  get method(): string {
    return this.t.basebackup ? `pg_basebackup (${path.dirname(this.t.basebackup)})` : 'copy of the stopped primary (embedded binaries)'
  }

  private server(name: string, port: number): PgServer {
    const dataDir = path.join(this.dir, name)
    const self = this
    const s: PgServer = {
      port,
      dataDir,
      running: false,
      url: (database = 'postgres') => `postgresql://postgres@127.0.0.1:${port}/${database}`,
      async start() {
        const opts = [`-p ${port}`, `-k ${self.dir}`, ...SETTINGS.map((x) => `-c ${x}`)].join(' ')
        await ok(`pg_ctl start (${name})`, run(self.t.pgCtl, ['-D', dataDir, '-l', path.join(self.dir, `${name}.log`), '-o', opts, '-w', '-t', '60', 'start'], self.as))
        s.running = true
      },
      async stop() {
        if (!s.running) return
        await ok(`pg_ctl stop (${name})`, run(self.t.pgCtl, ['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop'], self.as))
        s.running = false
      },
    }
    this.servers.push(s)
    return s
  }

  /** initdb + start, as `postgres` with trust auth (loopback replication included). */
  async startPrimary(): Promise<PgServer> {
    this.as = await serverUser(() => {})
    if (this.as.uid !== undefined) chownSync(this.dir, this.as.uid, this.as.gid!)
    const s = this.server('primary', await freePort())
    await ok('initdb', run(this.t.initdb, ['-D', s.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], this.as))
    await s.start()
    return s
  }

  /** A streaming standby of `primary`, started and connected (waits until it streams). */
  async startStandby(primary: PgServer): Promise<PgServer> {
    const s = this.server(`standby${this.servers.length}`, await freePort())
    const conninfo = `host=127.0.0.1 port=${primary.port} user=postgres application_name=${path.basename(s.dataDir)}`
    if (this.t.basebackup) {
      await ok('pg_basebackup', run(this.t.basebackup, ['-d', conninfo, '-D', s.dataDir, '-R', '-X', 'stream', '--no-sync', '-c', 'fast'], this.as))
    } else {
      // No pg_basebackup among the embedded binaries: a clean shutdown, then a plain copy.
      await primary.stop()
      cpSync(primary.dataDir, s.dataDir, { recursive: true })
      rmSync(path.join(s.dataDir, 'postmaster.pid'), { force: true })
      writeFileSync(path.join(s.dataDir, 'standby.signal'), '')
      appendFileSync(path.join(s.dataDir, 'postgresql.auto.conf'), `primary_conninfo = '${conninfo}'\n`)
      if (this.as.uid !== undefined) await ok('chown', run('chown', ['-R', `${this.as.uid}:${this.as.gid}`, s.dataDir], {}))
      await primary.start()
    }
    await s.start()
    await waitFor(async () => (await one<{ n: number }>(primary.url(), `SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming' AND application_name = $1`, [path.basename(s.dataDir)])).n === 1, 30_000, 'the standby to stream')
    return s
  }

  /** Stops every server and removes the folder. */
  async stop(): Promise<void> {
    for (const s of [...this.servers].reverse()) await s.stop().catch(() => {})
    rmSync(this.dir, { recursive: true, force: true })
  }
}

export async function one<T>(url: string, sql: string, params: unknown[] = []): Promise<T> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return (await c.query(sql, params)).rows[0] as T
  } finally {
    await c.end()
  }
}

export async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Waits until `standby` has replayed everything `primary` has written so far. */
export async function caughtUp(primary: PgServer, standby: PgServer, database = 'postgres'): Promise<void> {
  const { lsn } = await one<{ lsn: string }>(primary.url(database), 'SELECT pg_current_wal_insert_lsn()::text AS lsn')
  await waitFor(async () => (await one<{ ok: boolean }>(standby.url(database), 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn])).ok, 30_000, `the standby to replay ${lsn}`)
}
