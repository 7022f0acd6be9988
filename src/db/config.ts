// Where the database URL comes from, and how it is shown to people.
//
// Order: DATABASE_URL in the environment, then DATABASE_URL in the project's
// `.env` (read, never loaded into process.env, so nothing leaks into child
// processes), then the embedded PostgreSQL server (zero-install default).
// Schema changes (our migration commands, the Prisma CLI) look for
// DIRECT_DATABASE_URL first, the same way: in production DATABASE_URL names
// the connection pooler the app uses, and migrations need a real session
// (advisory lock, non-transactional statements), so they go around it.
// Every URL shown to a person goes through maskUrl/maskSecrets first.
import { existsSync, readFileSync } from 'node:fs'
import { userInfo } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseDotenv } from 'dotenv'

export type UrlSource = 'environment' | '.env' | 'embedded'

export interface ResolvedUrl {
  url: string
  source: UrlSource
  envFile?: string
  /** Set when the URL came from DIRECT_DATABASE_URL (absent: DATABASE_URL or embedded). */
  variable?: 'DIRECT_DATABASE_URL'
}

/** 'app': the client (DATABASE_URL, may be pooled); 'schema': migrations and the Prisma CLI (DIRECT_DATABASE_URL first). */
export type UrlPurpose = 'app' | 'schema'

export interface ConnectionInfo {
  host: string
  port: number
  database: string
  user: string
  schema: string
  ssl: string
  passwordSet: boolean
}

const MASK = '****'

let walkedRoot: string | undefined

/**
 * The folder holding package.json, found from this module's location (not the
 * cwd, so `npm --prefix` or a script run from a subfolder still finds it).
 * WATIFY_PROJECT_ROOT overrides it (tests use it to point at a scratch folder).
 */
export function projectRoot(): string {
  const override = process.env.WATIFY_PROJECT_ROOT
  if (override) return path.resolve(override)
  if (walkedRoot) return walkedRoot
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return (walkedRoot = dir)
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error(`No package.json found above ${path.dirname(fileURLToPath(import.meta.url))}; set WATIFY_PROJECT_ROOT to the project folder.`)
    dir = parent
  }
}

/** The variables in <project root>/.env ({} when there is none), parsed, never loaded into process.env. */
function readDotenvFile(): { file: string; vars: Record<string, string> } {
  const file = path.join(projectRoot(), '.env')
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { file, vars: {} }
    throw new Error(`Cannot read ${file}: ${(err as Error).message}. Fix its permissions or remove it.`, { cause: err })
  }
  return { file, vars: parseDotenv(text) }
}

/**
 * A setting from the environment, else from <project root>/.env (so that
 * WATIFY_EMBEDDED_PORT in .env works like DATABASE_URL does). Empty counts as unset.
 */
export function configValue(name: string): { value: string; source: 'environment' | '.env'; envFile?: string } | null {
  const fromEnv = process.env[name]?.trim()
  if (fromEnv) return { value: fromEnv, source: 'environment' }
  const { file, vars } = readDotenvFile()
  const fromFile = vars[name]?.trim()
  return fromFile ? { value: fromFile, source: '.env', envFile: file } : null
}

/**
 * DATABASE_URL from process.env, else from <project root>/.env (parsed with dotenv.parse, NOT loaded into process.env), else null.
 * For purpose 'schema', DIRECT_DATABASE_URL (environment, then .env) comes first. Sync, no side effects.
 */
export function findConfiguredUrl(purpose: UrlPurpose = 'app'): ResolvedUrl | null {
  const direct = purpose === 'schema' ? configValue('DIRECT_DATABASE_URL') : null
  const found = direct ?? configValue('DATABASE_URL')
  if (!found) return null
  return {
    url: found.value,
    source: found.source,
    ...(found.envFile ? { envFile: found.envFile } : {}),
    ...(direct ? { variable: 'DIRECT_DATABASE_URL' as const } : {}),
  }
}

/**
 * Whether the client should use named prepared statements on this URL: not when
 * it carries `pgbouncer=true` (Prisma's own flag for a transaction pooler such as
 * PgBouncer < 1.21, Supavisor, hosted poolers), where a server connection is
 * shared by many clients and statement names collide or vanish.
 */
export function usesNamedStatements(url: string): boolean {
  let flag: string | null = null
  try {
    flag = new URL(url).searchParams.get('pgbouncer')
  } catch {
    return true
  }
  return !(flag !== null && /^(1|true|on|yes)$/i.test(flag))
}

/** findConfiguredUrl(purpose), else ensureEmbeddedServer() (source 'embedded'). */
export async function resolveDatabaseUrl(opts: { log?: (line: string) => void; purpose?: UrlPurpose } = {}): Promise<ResolvedUrl> {
  const configured = findConfiguredUrl(opts.purpose)
  if (configured) return configured
  // Loaded lazily: a configured URL must not pay for (or depend on) the embedded server code.
  const { ensureEmbeddedServer } = await import('./embedded/index.ts')
  const server = await ensureEmbeddedServer(opts.log ? { log: opts.log } : {})
  return { url: server.url, source: 'embedded' }
}

// Query parameters that carry a password in libpq/node-postgres/Prisma URLs.
const SECRET_PARAM = /^(password|sslpassword|pass|passwd|pwd)$/i

/**
 * Splits `scheme://userinfo@host...` the way the WHATWG URL parser does: the
 * authority ends at the first `/`, `?` or `#`, and userinfo ends at the last
 * `@` inside it. Returns the index range of the password in `url`, if any.
 */
function passwordRange(url: string): [number, number] | null {
  const schemeEnd = url.indexOf('://')
  if (schemeEnd < 0) return null
  const start = schemeEnd + 3
  const rest = url.slice(start)
  const authorityLen = rest.search(/[/?#]/)
  const authority = authorityLen < 0 ? rest : rest.slice(0, authorityLen)
  let at = authority.lastIndexOf('@')
  if (at < 0) {
    // Not parseable as a URL (e.g. an unencoded `/` in the password): if there is
    // `user:` followed later by `@`, mask everything up to the last `@`. Masking
    // too much beats printing a password.
    const laterAt = rest.lastIndexOf('@')
    const colon = rest.indexOf(':')
    if (laterAt < 0 || colon < 0 || colon > laterAt) return null
    at = laterAt
  }
  const colon = rest.slice(0, at).indexOf(':')
  if (colon < 0) return null
  return [start + colon + 1, start + at]
}

/** Same URL with password replaced by '****' (also handles passwords in query params like ?password=, and unparseable strings: mask anything between '://' user ':' and '@'). */
export function maskUrl(url: string): string {
  let out = url
  const range = passwordRange(out)
  if (range && range[1] > range[0]) out = out.slice(0, range[0]) + MASK + out.slice(range[1])
  // Query parameters: rewrite only the values, keep the rest of the text byte for byte.
  const q = out.indexOf('?')
  if (q >= 0) {
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
    out = out.slice(0, q + 1) + query + out.slice(end)
  }
  return out
}

/** Masks every URL-with-credentials occurrence inside arbitrary text (error messages from pg etc.), plus any exact known password strings passed in. */
export function maskSecrets(text: string, extraSecrets: string[] = []): string {
  // URLs end at whitespace or at characters that usually wrap them in prose/JSON.
  let out = text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s'"<>`]+/gi, (m) => maskUrl(m))
  // libpq keyword form: `password=secret` or `password='se cret'`.
  out = out.replace(/\b(password|sslpassword)(\s*=\s*)('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s&;,'"]+)/gi, (_m, k: string, sep: string, v: string) =>
    v === MASK ? `${k}${sep}${v}` : `${k}${sep}${MASK}`,
  )
  for (const secret of extraSecrets) {
    if (!secret) continue
    // A password may appear raw or percent-encoded (as it sits inside a URL).
    const forms = new Set([secret, encodeURIComponent(secret)])
    for (const form of forms) out = out.split(form).join(MASK)
  }
  return out
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/**
 * Connection settings as node-postgres will use them. Defaults follow libpq /
 * node-postgres: port 5432, user = PGUSER or the OS user, database = user,
 * schema `public` (Prisma's ?schema=). `ssl` is the URL's sslmode (or
 * ssl=true -> `require`, ssl=false -> `disable`); without one it is `disable`,
 * because node-postgres (unlike libpq's `prefer`) never attempts TLS unless asked.
 */
export function describeUrl(url: string): ConnectionInfo {
  // Parsed as node-postgres (pg-connection-string) does, including its
  // `user@/db?host=/socket/dir` form, which WHATWG URL alone rejects.
  let u: URL
  let dummyHost = false
  try {
    try {
      u = new URL(url)
    } catch {
      u = new URL(url.replace('@/', '@___DUMMY___/'))
      dummyHost = true
    }
  } catch {
    throw new Error(`Not a valid database URL: ${maskUrl(url)}. Expected postgresql://user:password@host:5432/database`)
  }
  if (u.protocol !== 'postgresql:' && u.protocol !== 'postgres:') {
    throw new Error(`Unsupported database URL scheme \`${u.protocol}\` in ${maskUrl(url)}. Use postgresql://user:password@host:5432/database`)
  }
  const params = u.searchParams
  // As in node-postgres, ?host= wins over the URL's host (it names a socket folder).
  let host = params.get('host') || (dummyHost ? '' : decode(u.hostname)) || 'localhost'
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
  let port = 5432
  if (u.port) port = Number(u.port)
  else if (params.get('port')) {
    const p = Number(params.get('port'))
    if (!Number.isInteger(p) || p <= 0 || p > 65535) throw new Error(`Invalid port \`${params.get('port')}\` in ${maskUrl(url)}`)
    port = p
  }
  let fallbackUser: string
  try {
    fallbackUser = process.env.PGUSER || userInfo().username
  } catch {
    fallbackUser = 'postgres'
  }
  const user = params.get('user') || decode(u.username) || fallbackUser
  const database = decode(u.pathname.replace(/^\//, '')) || params.get('dbname') || user
  const schema = params.get('schema') || 'public'
  let ssl = 'disable'
  const sslmode = params.get('sslmode')
  const sslParam = params.get('ssl')
  if (sslmode) ssl = sslmode
  else if (sslParam !== null) ssl = /^(1|true|on|yes|)$/i.test(sslParam) ? 'require' : 'disable'
  const passwordSet = u.password !== '' || [...params.keys()].some((k) => /^(password)$/i.test(k) && params.get(k) !== '')
  return { host, port, database, user, schema, ssl, passwordSet }
}
