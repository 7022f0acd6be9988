// Where an npm_config_* value really came from. npm hands a script every
// setting it knows as npm_config_* — typed flags (`npm run x --steps=2`), but
// also `.npmrc` files and npm_config_* variables it inherited — and says
// nothing about which. A destructive command must act only on what was typed,
// so a value that a configuration file or the inherited environment also
// supplies, with the same value, is not taken as typed.
import { readFileSync } from 'node:fs'
import path from 'node:path'

/** npm's key for an npm_config_* variable: `npm_config_dry_run` -> `dry-run`. */
const keyOf = (envKey: string): string => envKey.slice('npm_config_'.length).toLowerCase().replace(/_/g, '-')

/** Top-level `key = value` pairs of an ini-style .npmrc (sections hold registry-scoped settings, not ours). */
function readNpmrc(file: string): Map<string, string> {
  const out = new Map<string, string>()
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return out
  }
  for (const line of text.split(/\r?\n/)) {
    if (/^\s*\[/.test(line)) break
    const m = /^\s*([^=;#\s][^=]*?)\s*=\s*(.*?)\s*$/.exec(line)
    if (m) out.set(m[1]!.toLowerCase().replace(/_/g, '-'), m[2]!.replace(/^(["'])(.*)\1$/, '$2'))
  }
  return out
}

/** The configuration files npm read, highest priority first (`npm help npmrc`). */
export function npmrcFiles(env: NodeJS.ProcessEnv): Array<{ file: string; label: string }> {
  const files: Array<{ file: string; label: string }> = []
  if (env.npm_config_local_prefix) files.push({ file: path.join(env.npm_config_local_prefix, '.npmrc'), label: 'the project .npmrc' })
  if (env.npm_config_userconfig) files.push({ file: env.npm_config_userconfig, label: 'the user .npmrc' })
  if (env.npm_config_globalconfig) files.push({ file: env.npm_config_globalconfig, label: 'the global npmrc' })
  if (env.npm_execpath) files.push({ file: path.join(path.dirname(env.npm_execpath), '..', 'npmrc'), label: "npm's builtin npmrc" })
  return files
}

/** The environment npm itself started with (Linux /proc): npm_config_* there were inherited, not typed. */
function npmProcessEnv(): Map<string, string> | undefined {
  let pid = process.ppid
  for (let depth = 0; depth < 6 && pid > 1; depth++) {
    let environ: string
    let stat: string
    try {
      environ = readFileSync(`/proc/${pid}/environ`, 'utf8')
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    } catch {
      return undefined
    }
    const vars = environ.split('\0').filter(Boolean)
    // npm's own process is the first ancestor outside the lifecycle it starts.
    if (!vars.some((v) => v.startsWith('npm_lifecycle_event='))) {
      return new Map(vars.filter((v) => /^npm_config_/i.test(v)).map((v) => [keyOf(v.slice(0, v.indexOf('='))), v.slice(v.indexOf('=') + 1)]))
    }
    // Field 4 of /proc/<pid>/stat, after the parenthesised command name.
    pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  }
  return undefined
}

/**
 * Names the non-command-line source of `envKey=value` (a file, or the
 * inherited environment) when it supplies that same value; undefined when the
 * value can only have been typed.
 */
export function npmConfigOrigin(envKey: string, value: string, env: NodeJS.ProcessEnv): string | undefined {
  const key = keyOf(envKey)
  const same = (v: string | undefined): boolean => v !== undefined && (v === value || (value === 'true' && v === ''))
  const inherited = npmProcessEnv()
  if (same(inherited?.get(key))) return `the environment variable \`${envKey}\``
  for (const { file, label } of npmrcFiles(env)) {
    if (same(readNpmrc(file).get(key))) return `${label} (${file})`
  }
  return undefined
}
