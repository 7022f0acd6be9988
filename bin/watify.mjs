#!/usr/bin/env node
// Launcher of the database CLI (`npm run migrate`, `node bin/watify.mjs migrate`).
// Runs the esbuild bundle dist/cli.mjs (built by scripts/build-cli.mjs at
// install) when it is newer than every source file it was built from, and
// otherwise the TypeScript source through tsx: an edited source file is never
// shadowed by a stale bundle. The check is a few stat calls; compiling the
// source through tsx costs most of a second on every run.
// WATIFY_CLI_DEBUG=1 prints which one runs (`cli: dist` / `cli: source`) on stderr.
import { readFileSync, statSync } from 'node:fs'
import path from 'node:path'

const ROOT = path.resolve(import.meta.dirname, '..')
const BUNDLE = path.join(ROOT, 'dist', 'cli.mjs')

/** Why the bundle can't be used, or undefined when it is up to date. */
function staleReason() {
  let built
  try {
    built = statSync(BUNDLE).mtimeMs
  } catch {
    return 'dist/cli.mjs is not built (npm run build)'
  }
  let inputs
  try {
    inputs = JSON.parse(readFileSync(path.join(ROOT, 'dist', 'cli.inputs.json'), 'utf8')).inputs
    if (!Array.isArray(inputs) || inputs.length === 0) throw new Error('no inputs')
  } catch {
    return 'dist/cli.inputs.json is missing or unreadable (npm run build)'
  }
  for (const rel of inputs) {
    let mtime
    try {
      mtime = statSync(path.join(ROOT, rel)).mtimeMs
    } catch {
      return `${rel} is gone since the build`
    }
    // Not strictly older means it may have changed after the build started.
    if (mtime >= built) return `${rel} changed after the build`
  }
  return undefined
}

// pg probes for Cloudflare Workers when first imported: with no `navigator`
// global (Node 20; Node 21+ defines one) it builds a fetch Response, loading
// undici, ~35 ms of a ~0.3 s run. A Node 21-style navigator skips that.
if (globalThis.navigator === undefined) {
  Object.defineProperty(globalThis, 'navigator', { value: { userAgent: `Node.js/${process.versions.node.split('.')[0]}` }, configurable: true, writable: true })
}

const reason = staleReason()
const debug = process.env.WATIFY_CLI_DEBUG === '1'
if (reason === undefined) {
  if (debug) process.stderr.write('cli: dist\n')
  // Stack traces (printed under DEBUG) then point into src/ rather than the bundle.
  if (process.env.DEBUG) process.setSourceMapsEnabled(true)
  await import('../dist/cli.mjs')
} else {
  if (debug) process.stderr.write(`cli: source (${reason})\n`)
  const { register } = await import('tsx/esm/api')
  register()
  await import('../src/cli/main.ts')
}
