// Passwords kept out of the engine stand-in's argument list. The Prisma CLI
// spawns the engine with `--datasource <json>` in its arguments, which `ps`
// shows to every user; prisma.config.ts therefore gives the CLI the URLs
// without their passwords and puts the passwords in the environment the CLI
// passes on (readable only by the same user), keyed by the URL they belong to.
import { splitPassword, withPassword } from '../db/url.ts'

export const ENGINE_PASSWORDS_ENV = 'WATIFY_ENGINE_PASSWORDS'

export type EngineSecrets = ReadonlyMap<string, string>

/** For prisma.config.ts: the URL without its password, recording the password in `env`. */
export function hidePassword(url: string, env: NodeJS.ProcessEnv): string {
  const { url: bare, password } = splitPassword(url)
  if (!password) return url
  const known = readSecrets(env)
  known.set(bare, password)
  env[ENGINE_PASSWORDS_ENV] = JSON.stringify(Object.fromEntries(known))
  return bare
}

function readSecrets(env: NodeJS.ProcessEnv): Map<string, string> {
  try {
    const parsed = JSON.parse(env[ENGINE_PASSWORDS_ENV] ?? '{}') as Record<string, unknown>
    return new Map(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === 'string'))
  } catch {
    return new Map()
  }
}

/** For the engine: the recorded passwords, removed from `env` so nothing it starts inherits them. */
export function takeEngineSecrets(env: NodeJS.ProcessEnv): EngineSecrets {
  const secrets = readSecrets(env)
  delete env[ENGINE_PASSWORDS_ENV]
  return secrets
}

/** `url` with its password put back, when one was recorded for exactly this URL. */
export function restorePassword(url: string | undefined, secrets: EngineSecrets): string | undefined {
  const password = url === undefined ? undefined : secrets.get(url)
  return password === undefined ? url : withPassword(url!, password)
}

export function withSecrets<T extends { url?: string; shadowDatabaseUrl?: string }>(datasource: T, secrets: EngineSecrets): T {
  const out = { ...datasource }
  if (out.url !== undefined) out.url = restorePassword(out.url, secrets)
  if (out.shadowDatabaseUrl !== undefined) out.shadowDatabaseUrl = restorePassword(out.shadowDatabaseUrl, secrets)
  return out
}
