// Where the database URL comes from, and how it is shown to people.
//
// Order: DATABASE_URL in the environment, then DATABASE_URL in the project's
// `.env` (read, never loaded into process.env, so nothing leaks into child
// processes), then the embedded PostgreSQL server (zero-install default).
// Every URL shown to a person goes through maskUrl/maskSecrets (src/db/url.ts) first.
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseDotenv } from 'dotenv'

// Re-exported for the modules that already import them from here; url.ts is where they live.
export { describeUrl, maskSecrets, maskUrl, type ConnectionInfo } from './url.ts'

export type UrlSource = 'environment' | '.env' | 'embedded'

export interface ResolvedUrl {
  url: string
  source: UrlSource
  envFile?: string
}

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

/** DATABASE_URL from process.env, else from <project root>/.env (parsed with dotenv.parse, NOT loaded into process.env), else null. Sync, no side effects. */
export function findConfiguredUrl(): ResolvedUrl | null {
  const found = configValue('DATABASE_URL')
  if (!found) return null
  return found.envFile ? { url: found.value, source: found.source, envFile: found.envFile } : { url: found.value, source: found.source }
}

/** findConfiguredUrl(), else ensureEmbeddedServer() (source 'embedded'). */
export async function resolveDatabaseUrl(opts: { log?: (line: string) => void } = {}): Promise<ResolvedUrl> {
  const configured = findConfiguredUrl()
  if (configured) return configured
  // Loaded lazily: a configured URL must not pay for (or depend on) the embedded server code.
  const { ensureEmbeddedServer } = await import('./embedded.ts')
  const server = await ensureEmbeddedServer(opts.log ? { log: opts.log } : {})
  return { url: server.url, source: 'embedded' }
}
