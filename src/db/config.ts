// Where the database URL comes from, and how it is shown to people.
//
// Order: DATABASE_URL in the environment, then DATABASE_URL in the project's
// `.env` (read, never loaded into process.env, so nothing leaks into child
// processes), then the embedded PostgreSQL server (zero-install default).
// Schema changes (our migration commands, the Prisma CLI) look for
// DIRECT_DATABASE_URL first, the same way: in production DATABASE_URL names
// the connection pooler the app uses, and migrations need a real session
// (advisory lock, non-transactional statements), so they go around it.
// Every URL shown to a person goes through maskUrl/maskSecrets (src/db/url.ts) first.
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseDotenv } from 'dotenv'

// Re-exported for the modules that already import them from here; url.ts is where they live.
export { describeUrl, maskSecrets, maskUrl, usesNamedStatements, type ConnectionInfo } from './url.ts'

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

/** A path as shown to people: relative to the current folder when inside it (npm runs scripts from the project root), else absolute. */
export function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), p)
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p
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


/** findConfiguredUrl(purpose), else ensureEmbeddedServer() (source 'embedded'). */
export async function resolveDatabaseUrl(opts: { log?: (line: string) => void; purpose?: UrlPurpose } = {}): Promise<ResolvedUrl> {
  const configured = findConfiguredUrl(opts.purpose)
  if (configured) return configured
  // Loaded lazily: a configured URL must not pay for (or depend on) the embedded server code.
  const { ensureEmbeddedServer } = await import('./embedded/index.ts')
  const server = await ensureEmbeddedServer(opts.log ? { log: opts.log } : {})
  return { url: server.url, source: 'embedded' }
}
