// The one place a database URL is parsed, rewritten or masked. Parsing is
// node-postgres's own (pg-connection-string, and pg's defaults for what the URL
// leaves out), so what we show and check is what the driver connects to.
// Imported by the CLI, the library, the client and the engine stand-in alike:
// it depends on nothing of theirs.
import { createRequire } from 'node:module'
import { userInfo } from 'node:os'

import { parse as parseConnectionString } from 'pg-connection-string'

import { LibpqClient } from './pg-client.ts'

/** What pg would connect to, the password aside. */
export interface ConnectionInfo {
  host: string
  port: number
  database: string
  user: string
  /** Prisma's `?schema=` (default `public`). */
  schema: string
  ssl: string
  passwordSet: boolean
}

export interface ParsedUrl extends ConnectionInfo {
  /** The password as the driver sends it (decoded); '' when the URL has none. */
  password: string
}

/** A URL we refuse; its message never contains the URL. */
export class DatabaseUrlError extends Error {
  readonly hint: string
  constructor(message: string, hint: string = HINT) {
    super(message)
    this.name = 'DatabaseUrlError'
    this.hint = hint
  }
}

const HINT = 'Percent-encode special characters in the user name and password: @ as %40, / as %2F, : as %3A, # as %23, ? as %3F, % as %25'

/** Parameters only Prisma reads; node-postgres would send them to the server as settings. */
export const PRISMA_ONLY_PARAMS = ['schema', 'connection_limit', 'pool_timeout', 'pgbouncer', 'statement_cache_size', 'socket_timeout', 'connect_timeout'] as const

// Query parameters that carry a password in libpq/node-postgres URLs.
const SECRET_PARAM = /^(password|sslpassword)$/i
const MASK = '****'

// pg's own defaults (PGUSER, then USER, PGDATABASE, database = user, port 5432).
const ConnectionParameters = createRequire(import.meta.url)('pg/lib/connection-parameters.js') as new (config: object) => {
  user: string
  database: string
  port: number
  host: string
}

/**
 * The user when the URL names none: PGUSER, else USER, as pg reads them; where
 * USER is unset (containers, services) pg would send none, so the OS account's
 * name, which is what libpq uses. driverConfig sets it, so the driver agrees.
 */
function defaultUser(): string {
  if (process.env.PGUSER) return process.env.PGUSER
  if (process.env.USER) return process.env.USER
  try {
    return userInfo().username
  } catch {
    return 'postgres'
  }
}

interface Shape {
  scheme: string
  /** Offset of the first character after `scheme://`. */
  start: number
  /** Offset just past the authority (`user:pass@host:port`). */
  authorityEnd: number
}

function shape(url: string): Shape | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)
  if (!m) return undefined
  const start = m[0].length
  const rest = url.slice(start)
  const len = rest.search(/[/?#]/)
  return { scheme: m[1]!.toLowerCase(), start, authorityEnd: len < 0 ? url.length : start + len }
}

/**
 * Throws unless `url` reads one way only: a postgres scheme, and no `@` or `#`
 * after the host (they mean a password with an unencoded `/`, `?` or `#`, which
 * the URL grammar would cut somewhere the user did not mean).
 */
function checkUnambiguous(url: string): Shape {
  const s = shape(url)
  if (!s) throw new DatabaseUrlError('The database URL is not a URL (expected postgresql://…).')
  if (s.scheme !== 'postgresql' && s.scheme !== 'postgres') {
    throw new DatabaseUrlError(`Unsupported database URL scheme \`${s.scheme}:\`.`, 'Use a postgresql:// (or postgres://) URL')
  }
  const after = url.slice(s.authorityEnd)
  if (after.includes('@') || after.includes('#')) {
    throw new DatabaseUrlError('The database URL cannot be read one way only: an `@` or `#` follows the host, as when a password holds an unencoded `/`, `?`, `#` or `@`.')
  }
  return s
}

/**
 * pg-connection-string with libpq's meaning of `sslmode` (its `useLibpqCompat`):
 * `require` encrypts without verifying, `verify-ca` checks the chain only,
 * `verify-full` the chain and the host name; `prefer` tries TLS and falls back to
 * plain text (src/db/pg-client.ts does the falling back). Without it pg treats
 * every mode as verify-full and prints a warning on stderr, where the engine
 * stand-in's protocol lives. A `uselibpqcompat` parameter in the URL is
 * redundant then (and both together are an error to pg), so it is dropped.
 */
function pgParse(url: string): ReturnType<typeof parseConnectionString> {
  let text = url
  if (/[?&]uselibpqcompat=/i.test(text)) {
    const u = new URL(text)
    for (const key of [...u.searchParams.keys()]) if (/^uselibpqcompat$/i.test(key)) u.searchParams.delete(key)
    text = u.toString()
  }
  try {
    return parseConnectionString(text, { useLibpqCompat: true })
  } catch (err) {
    const message = (err as Error)?.message ?? ''
    if (/verify-ca requires/.test(message)) throw new DatabaseUrlError('`sslmode=verify-ca` needs the CA certificate to verify against.', 'Add `sslrootcert=<path to the CA certificate>` to the URL, or use `sslmode=require` (encrypted, not verified)')
    const code = (err as NodeJS.ErrnoException)?.code
    if (code === 'ENOENT' || code === 'EACCES') throw new DatabaseUrlError('A certificate file the database URL names (`sslrootcert`, `sslcert` or `sslkey`) cannot be read.', 'Check the paths in the URL and their permissions')
    throw new DatabaseUrlError('The database URL is not a valid URL.')
  }
}

/** How long to wait for a server to accept a connection when the URL does not say (`?connect_timeout=<seconds>`): Prisma's default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000

/** How long a pool waits for a free connection when the URL does not say (`?pool_timeout=<seconds>`): Prisma's default. */
export const DEFAULT_POOL_TIMEOUT_MS = 10_000

/** A `?name=<seconds>` parameter in milliseconds: a whole number of seconds, 0 = no limit (libpq's and Prisma's reading). */
function secondsParam(raw: Record<string, unknown>, name: string): number | undefined {
  const value = raw[name]
  if (value === undefined || value === null || value === '') return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 2_147_483) throw new DatabaseUrlError(`The database URL's \`${name}\` is not a whole number of seconds.`, `Example: \`?${name}=10\` (0 = no limit)`)
  return n * 1000
}

/** Everything the driver would use, with pg's defaults filled in. Throws DatabaseUrlError (never echoing the URL). */
export function parseDatabaseUrl(url: string): ParsedUrl {
  checkUnambiguous(url)
  const raw = pgParse(url) as Record<string, unknown>
  const port = raw.port ? Number(raw.port) : undefined
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port <= 65535)) throw new DatabaseUrlError('The database URL has an invalid port.', 'Use a port number between 1 and 65535')
  const params = new ConnectionParameters({ ...raw, user: raw.user || defaultUser(), ssl: false })
  const password = typeof raw.password === 'string' ? raw.password : ''
  const sslmode = typeof raw.sslmode === 'string' ? raw.sslmode : undefined
  const sslParam = raw.ssl
  const ssl = sslmode ?? (sslParam === true || (typeof sslParam === 'string' && /^(true|1|on|yes|)$/i.test(sslParam)) ? 'require' : 'disable')
  return {
    host: params.host,
    port: params.port,
    database: params.database,
    user: params.user,
    schema: typeof raw.schema === 'string' && raw.schema ? raw.schema : 'public',
    ssl,
    passwordSet: password !== '',
    password,
  }
}

/**
 * Whether the client should use named prepared statements on this URL: not when
 * it carries `pgbouncer=true` (Prisma's own flag for a transaction pooler such as
 * PgBouncer < 1.21, Supavisor, hosted poolers), where a server connection is
 * shared by many clients and statement names collide or vanish.
 */
export function usesNamedStatements(url: string): boolean {
  let flag: unknown
  try {
    flag = (pgParse(url) as Record<string, unknown>).pgbouncer
  } catch {
    return true
  }
  return !(typeof flag === 'string' && /^(1|true|on|yes)$/i.test(flag))
}

/** parseDatabaseUrl without the password. */
export function describeUrl(url: string): ConnectionInfo {
  const { password: _password, ...info } = parseDatabaseUrl(url)
  return info
}

function rewrite(url: string, edit: (u: URL) => void): string {
  checkUnambiguous(url)
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new DatabaseUrlError('The database URL is not a valid URL.')
  }
  edit(u)
  return u.toString()
}

/** The same server and credentials, another database. */
export function withDatabase(url: string, database: string): string {
  return rewrite(url, (u) => {
    u.pathname = `/${encodeURIComponent(database)}`
  })
}

/** The URL without its password (userinfo or `?password=`), and that password decoded. */
export function splitPassword(url: string): { url: string; password: string } {
  const { password } = parseDatabaseUrl(url)
  if (!password) return { url, password: '' }
  return {
    url: rewrite(url, (u) => {
      u.password = ''
      for (const key of [...u.searchParams.keys()]) if (/^password$/i.test(key)) u.searchParams.delete(key)
    }),
    password,
  }
}

/** Puts `password` back into a URL that has none. */
export function withPassword(url: string, password: string): string {
  return rewrite(url, (u) => {
    u.password = encodeURIComponent(password)
  })
}

export interface DriverConfig {
  host?: string
  port?: number
  database?: string
  user?: string
  /** A function, so that no log of the config (Prisma's `DEBUG=*` prints the pool's) shows it. */
  password?: () => string
  [setting: string]: unknown
}

/**
 * node-postgres settings for `url`, Prisma-only parameters removed: a parsed
 * object rather than a connection string, so the password is never a string
 * in the config anyone can print. Values in `base` apply unless the URL sets them.
 * `Client` is LibpqClient (pg.Pool uses it; open single clients with
 * `new LibpqClient(config)`), so `sslmode=prefer` falls back as libpq does.
 */
export function driverConfig(url: string, base: Record<string, unknown> = {}): DriverConfig {
  checkUnambiguous(url)
  const parsed = pgParse(url) as Record<string, unknown>
  // libpq's `connect_timeout` and Prisma's `socket_timeout` (seconds): pg's JavaScript client reads
  // neither, it wants milliseconds under other names. Without a connect timeout a host that accepts
  // TCP and never answers hangs every command (and the engine stand-in) for ever.
  const connectMs = secondsParam(parsed, 'connect_timeout')
  const socketMs = secondsParam(parsed, 'socket_timeout')
  const poolMs = secondsParam(parsed, 'pool_timeout')
  for (const p of PRISMA_ONLY_PARAMS) delete parsed[p]
  const { password, port, database, ...rest } = parsed
  const config: DriverConfig = { keepAlive: true, ...base, Client: LibpqClient }
  for (const [k, v] of Object.entries(rest)) if (v !== undefined && v !== null && v !== '') config[k] = v
  // The connection's own limit (LibpqClient), and for a pool's whole acquisition that plus
  // Prisma's `pool_timeout` (default 10 s) for waiting on a busy pool: the client's own,
  // host-naming error is the one a silent host produces.
  const connectTimeoutMs = connectMs ?? (typeof base.connectionTimeoutMillis === 'number' ? base.connectionTimeoutMillis : DEFAULT_CONNECT_TIMEOUT_MS)
  config.connectTimeoutMs = connectTimeoutMs
  const callerBound = connectMs === undefined && poolMs === undefined && typeof base.connectionTimeoutMillis === 'number'
  // A caller's own connectionTimeoutMillis bounds the whole acquisition, as pg reads it.
  config.connectionTimeoutMillis = callerBound ? base.connectionTimeoutMillis : connectTimeoutMs && poolMs !== 0 ? connectTimeoutMs + (poolMs ?? DEFAULT_POOL_TIMEOUT_MS) : 0
  if (socketMs) config.query_timeout = socketMs
  if (port) config.port = Number(port)
  if (typeof database === 'string' && database) config.database = database
  if (typeof password === 'string' && password) config.password = () => password
  if (!config.user) config.user = defaultUser()
  return config
}

/** The libpq `options` setting that makes `schema` the session's search_path (Prisma's `?schema=`). */
export function searchPathOption(schema: string): string {
  // Spaces are escaped with a backslash; the name is quoted when it needs it.
  const ident = /^[a-z_][a-z0-9_$]*$/.test(schema) ? schema : `"${schema.replace(/"/g, '""')}"`
  return `-c search_path=${ident.replace(/\\/g, '\\\\').replace(/ /g, '\\ ')}`
}

/** Offsets of the password in `url`, if it has one. */
function passwordRange(url: string): [number, number] | undefined {
  const s = shape(url)
  if (!s) return undefined
  // Ambiguous URLs: the userinfo may run up to the last `@` anywhere; masking too much beats showing a password.
  const tail = url.slice(s.authorityEnd)
  const at = tail.includes('@') ? url.lastIndexOf('@') : url.lastIndexOf('@', s.authorityEnd - 1)
  if (at < s.start) return undefined
  const colon = url.indexOf(':', s.start)
  if (colon < 0 || colon >= at) return undefined
  return [colon + 1, at]
}

/** The URL as shown to people: passwords (userinfo, `?password=`, `?sslpassword=`) replaced by `****`, every other character kept. */
export function maskUrl(url: string): string {
  let out = url
  const range = passwordRange(out)
  if (range && range[1] > range[0]) out = out.slice(0, range[0]) + MASK + out.slice(range[1])
  const q = out.indexOf('?')
  if (q < 0) return out
  const hash = out.indexOf('#', q)
  const end = hash < 0 ? out.length : hash
  const query = out
    .slice(q + 1, end)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      if (eq < 0) return pair
      let key = pair.slice(0, eq)
      try {
        key = decodeURIComponent(key)
      } catch {
        // keep the raw key
      }
      return SECRET_PARAM.test(key) && eq < pair.length - 1 ? `${pair.slice(0, eq)}=${MASK}` : pair
    })
    .join('&')
  return out.slice(0, q + 1) + query + out.slice(end)
}

/** Masks every URL inside arbitrary text (driver errors, debug logs), `password=`/`password: '…'` settings, and the given secrets raw or percent-encoded. */
export function maskSecrets(text: string, extraSecrets: readonly string[] = []): string {
  let out = text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s'"<>`]+/gi, (m) => maskUrl(m))
  // libpq keyword form (`password=secret`), and a printed config (`password: 'secret'`, `"password":"secret"`).
  out = out.replace(/\b(password|sslpassword)(\s*=\s*)('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s&;,'"]+)/gi, (m, k: string, sep: string, v: string) =>
    v === MASK ? m : `${k}${sep}${MASK}`,
  )
  out = out.replace(/\b(password|sslpassword)("?\s*:\s*)('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")/gi, (_m, k: string, sep: string, v: string) => `${k}${sep}${v[0]}${MASK}${v[0]}`)
  for (const secret of extraSecrets) {
    if (!secret) continue
    for (const form of new Set([secret, encodeURIComponent(secret)])) out = out.split(form).join(MASK)
  }
  return out
}
