// Who runs PostgreSQL. It refuses to run as root: as root we run it as the OS
// user `postgres` (created if needed) and make sure that user can reach its files.
import { readFileSync } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import { runProcess } from '../../process.ts'
import type { Binaries } from './binaries.ts'
import { USER } from './settings.ts'
import type { Log } from './util.ts'

export interface RunAs {
  uid?: number
  gid?: number
  name?: string
}

/** Runs a program, as another OS user when `as` says so, and collects its output. */
export async function run(file: string, args: string[], as: RunAs, timeoutMs = 120_000): Promise<{ code: number | null; out: string }> {
  // PG* variables (PGDATA, PGPORT...) would silently change what pg_ctl/initdb do.
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v
  env.LC_ALL = 'C' // English messages, and no dependence on the caller's locale
  // cwd '/': the caller's folder may not be reachable by the postgres user.
  const r = await runProcess(file, args, { uid: as.uid, gid: as.gid, env, cwd: '/', timeoutMs })
  return { code: r.code, out: r.output }
}

export function isRoot(): boolean {
  return process.getuid?.() === 0
}

function lookupUser(name: string): RunAs | null {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':')
      if (f[0] === name && f[2] && f[3]) return { uid: Number(f[2]), gid: Number(f[3]), name }
    }
  } catch {
    // no /etc/passwd: fall through to getent via useradd errors below
  }
  return null
}

let postgresUserCache: RunAs | undefined

/**
 * PostgreSQL refuses to run as root. As root we run it as the OS user
 * `postgres`, creating it if needed (a system user with no home and no
 * login shell). Otherwise we run it as ourselves.
 */
export async function serverUser(log: Log): Promise<RunAs> {
  if (!isRoot()) return {}
  if (postgresUserCache) return postgresUserCache
  let user = lookupUser(USER)
  if (!user) {
    const hasGroup = (() => {
      try {
        return readFileSync('/etc/group', 'utf8').split('\n').some((l) => l.split(':')[0] === USER)
      } catch {
        return false
      }
    })()
    const steps: [string, string[]][] = []
    if (!hasGroup) steps.push(['groupadd', ['--system', USER]])
    steps.push(['useradd', ['--system', '--gid', USER, '--no-create-home', '--shell', '/bin/false', USER]])
    for (const [cmd, args] of steps) {
      const r = await run(cmd, args, {}).catch((err: Error) => ({ code: -1, out: err.message }))
      if (r.code !== 0) {
        throw new Error(
          `PostgreSQL cannot run as root and creating the OS user \`${USER}\` failed (${cmd}: ${r.out.trim()}). ` +
            `Create it yourself (\`useradd --system ${USER}\`), run as a non-root user, or set DATABASE_URL.`,
        )
      }
    }
    user = lookupUser(USER)
    if (!user) throw new Error(`Created the OS user \`${USER}\` but cannot find it in /etc/passwd. Create it yourself or set DATABASE_URL.`)
    log(`Created the OS user \`${USER}\` to run the embedded PostgreSQL (PostgreSQL refuses to run as root)`)
  }
  postgresUserCache = user
  return user
}

/** For an existing cluster, the data dir's owner is who must run pg_ctl. */
export async function clusterOwner(dataDir: string, log: Log): Promise<RunAs> {
  if (!isRoot()) return {}
  const st = await fs.stat(dataDir)
  if (st.uid === 0) return serverUser(log)
  let name: string | undefined
  try {
    name = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.split(':')[2] === String(st.uid))?.split(':')[0]
  } catch {
    // the uid is enough
  }
  return { uid: st.uid, gid: st.gid, ...(name ? { name } : {}) }
}

function ancestors(p: string): string[] {
  const out: string[] = []
  let d = path.resolve(p)
  for (;;) {
    out.push(d)
    const up = path.dirname(d)
    if (up === d) return out
    d = up
  }
}

/**
 * As root, the postgres user must be able to reach the data dir and the
 * binaries. A CI checkout in a `mktemp -d` folder (mode 0700) is not reachable:
 * grant search (o+x, not read) on exactly the folders that block it, and say so.
 */
export async function ensureReachable(as: RunAs, dirs: string[], b: Binaries, log: Log): Promise<void> {
  if (as.uid === undefined) return
  // Shallowest first: a blocked folder makes everything below it look blocked too.
  const unique = [...new Set(dirs.flatMap(ancestors))].sort((a, b) => a.length - b.length)
  const fixed = new Set<string>()
  for (;;) {
    const probe = await run('/bin/sh', ['-c', 'for d do [ -x "$d" ] || { printf "%s\\n" "$d"; exit; }; done', 'sh', ...unique], as)
    const dir = probe.out.trim()
    if (!dir) break
    if (fixed.has(dir)) {
      throw new Error(`The OS user \`${as.name ?? as.uid}\` cannot reach ${dir} even after chmod o+x. Move the project (or WATIFY_EMBEDDED_DIR) to a folder that user can reach.`)
    }
    fixed.add(dir)
    const st = await fs.stat(dir)
    await fs.chmod(dir, st.mode | 0o001)
    log(`Made ${dir} traversable by the OS user \`${as.name ?? as.uid}\` (chmod o+x) so the embedded PostgreSQL can reach its files`)
  }
  const check = await run(b.postgres, ['--version'], as)
  if (check.code !== 0) {
    throw new Error(
      `The embedded PostgreSQL binary does not run as the OS user \`${as.name ?? as.uid}\`: ${check.out.trim()}. ` +
        `Make ${b.pkgRoot} readable by that user, or set DATABASE_URL.`,
    )
  }
}
