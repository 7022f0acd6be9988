// Shared by the launchers bin/watify.mjs and bin/schema-engine.mjs: runs the
// esbuild bundle dist/<name>.mjs (built by scripts/build-cli.mjs at install)
// when it is newer than every source file it was built from, and otherwise the
// TypeScript source through tsx: an edited source file is never shadowed by a
// stale bundle. The check is a few stat calls; compiling the source through
// tsx costs most of a second on every run.
// WATIFY_CLI_DEBUG=1 prints which one runs (`cli: dist` / `cli: source`) on stderr.
import { readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const ROOT = path.resolve(import.meta.dirname, '..')

/** Why dist/<name>.mjs can't be used, or undefined when it is up to date. */
function staleReason(name) {
  const rel = `dist/${name}.mjs`
  let built
  try {
    built = statSync(path.join(ROOT, rel)).mtimeMs
  } catch {
    return `${rel} is not built (npm run build)`
  }
  let inputs
  try {
    inputs = JSON.parse(readFileSync(path.join(ROOT, 'dist', `${name}.inputs.json`), 'utf8')).inputs
    if (!Array.isArray(inputs) || inputs.length === 0) throw new Error('no inputs')
  } catch {
    return `dist/${name}.inputs.json is missing or unreadable (npm run build)`
  }
  for (const file of inputs) {
    let mtime
    try {
      mtime = statSync(path.join(ROOT, file)).mtimeMs
    } catch {
      return `${file} is gone since the build`
    }
    // Not strictly older means it may have changed after the build started.
    if (mtime >= built) return `${file} changed after the build`
  }
  return undefined
}

/** Runs dist/<name>.mjs when fresh, else `source` (relative to the project root) through tsx. */
export async function launch(name, source, { debugLines = true } = {}) {
  const reason = staleReason(name)
  const debug = debugLines && process.env.WATIFY_CLI_DEBUG === '1'
  if (reason === undefined) {
    if (debug) process.stderr.write('cli: dist\n')
    // Stack traces (printed under DEBUG) then point into src/ rather than the bundle.
    if (process.env.DEBUG) process.setSourceMapsEnabled(true)
    await import(pathToFileURL(path.join(ROOT, 'dist', `${name}.mjs`)).href)
  } else {
    if (debug) process.stderr.write(`cli: source (${reason})\n`)
    const { register } = await import('tsx/esm/api')
    register()
    await import(pathToFileURL(path.join(ROOT, source)).href)
  }
}
