// A throwaway PostgreSQL server for tests that need what the shared test server
// cannot have: TLS (a self-signed certificate) or a role that must authenticate
// with SCRAM. initdb in a temp folder, a free loopback port, trust otherwise.
// (Primaries with streaming standbys: test/helpers/replica.ts.) The binaries are
// the system's PostgreSQL (CI, /usr/lib/postgresql/<n>/bin), else the embedded ones.
// PostgreSQL refuses to run as root: as root the servers run as the OS user the
// embedded server uses (src/db/embedded/os-user.ts).
import { existsSync, readdirSync } from 'node:fs'
import fs from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'

import pg from 'pg'

import { binaries } from '../../src/db/embedded/binaries.ts'
import { run, serverUser, type RunAs } from '../../src/db/embedded/os-user.ts'
import { runProcess } from '../../src/process.ts'
import { freePort } from './browser.ts'

export interface TestServer {
  port: number
  dir: string
  /** postgresql://<user>@127.0.0.1:<port>/<database>, with `password` when given. */
  url(opts?: { database?: string; user?: string; password?: string; params?: string }): string
  /** The server's log so far (for failure messages). */
  log(): Promise<string>
  stop(): Promise<void>
}

export interface ServerOptions {
  /** ssl = on with a self-signed certificate for CN=localhost. */
  ssl?: boolean
  /** A login superuser with this name and password that must authenticate with scram-sha-256 over TCP (everyone else: trust). */
  scramUser?: { name: string; password: string }
}

const SYSTEM_BIN = (() => {
  const base = '/usr/lib/postgresql'
  if (!existsSync(base)) return undefined
  const versions = readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
  return versions.map((v) => path.join(base, v, 'bin')).find((d) => existsSync(path.join(d, 'initdb')))
})()

function bin(name: 'initdb' | 'pg_ctl'): string {
  if (SYSTEM_BIN) return path.join(SYSTEM_BIN, name)
  const b = binaries()
  return name === 'initdb' ? b.initdb : b.pgCtl
}

async function owner(): Promise<RunAs> {
  return serverUser(() => {})
}

async function must(file: string, args: string[], as: RunAs, what: string): Promise<void> {
  const r = await run(file, args, as)
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.out.trim().split('\n').slice(-15).join('\n')}`)
}

async function chownTree(dir: string, as: RunAs): Promise<void> {
  if (as.uid === undefined) return
  await runProcess('chown', ['-R', `${as.uid}:${as.gid}`, dir])
}

async function start(dir: string, data: string, port: number, as: RunAs): Promise<TestServer> {
  const logFile = path.join(dir, 'server.log')
  await must(bin('pg_ctl'), ['start', '-D', data, '-l', logFile, '-w', '-t', '60', '-o', `-p ${port}`], as, 'pg_ctl start')
  let stopped = false
  return {
    port,
    dir,
    url({ database = 'postgres', user = 'postgres', password, params } = {}) {
      const auth = password === undefined ? encodeURIComponent(user) : `${encodeURIComponent(user)}:${encodeURIComponent(password)}`
      return `postgresql://${auth}@127.0.0.1:${port}/${database}${params ? `?${params}` : ''}`
    },
    log: () => fs.readFile(logFile, 'utf8').catch(() => ''),
    async stop() {
      if (stopped) return
      stopped = true
      await run(bin('pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w', '-t', '30'], as)
      await fs.rm(dir, { recursive: true, force: true })
    },
  }
}

/** initdb, configure, start. Trust for every TCP connection from 127.0.0.1 unless `scramUser` says otherwise for that role. */
export async function startServer(opts: ServerOptions = {}): Promise<TestServer> {
  const as = await owner()
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'watify-pg-'))
  await fs.chmod(dir, 0o755)
  const data = path.join(dir, 'data')
  const port = await freePort()
  try {
    await chownTree(dir, as)
    await must(bin('initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'], as, 'initdb')
    const conf = [
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      'max_connections = 40',
      'shared_buffers = 16MB',
    ]
    if (opts.ssl) {
      const r = await runProcess('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', path.join(data, 'server.key'), '-out', path.join(data, 'server.crt')])
      if (r.code !== 0) throw new Error(`openssl failed: ${r.output}`)
      await fs.chmod(path.join(data, 'server.key'), 0o600)
      await chownTree(data, as)
      conf.push('ssl = on', "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'")
    }
    await fs.appendFile(path.join(data, 'postgresql.conf'), `\n${conf.join('\n')}\n`)
    const hba = ['local all all trust']
    if (opts.scramUser) hba.push(`host all ${opts.scramUser.name} 127.0.0.1/32 scram-sha-256`)
    hba.push('host all all 127.0.0.1/32 trust')
    await fs.writeFile(path.join(data, 'pg_hba.conf'), `${hba.join('\n')}\n`)
    const server = await start(dir, data, port, as)
    if (opts.scramUser) {
      const { name, password } = opts.scramUser
      const client = new pg.Client({ connectionString: server.url() })
      try {
        await client.connect()
        await client.query(`SET password_encryption = 'scram-sha-256'; CREATE ROLE "${name}" LOGIN SUPERUSER PASSWORD '${password.replace(/'/g, "''")}'`)
      } catch (err) {
        await server.stop()
        throw err
      } finally {
        await client.end().catch(() => {})
      }
    }
    return server
  } catch (err) {
    await run(bin('pg_ctl'), ['stop', '-D', data, '-m', 'immediate'], as).catch(() => {})
    await fs.rm(dir, { recursive: true, force: true })
    throw err
  }
}
