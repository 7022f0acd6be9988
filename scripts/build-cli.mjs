#!/usr/bin/env node
// Bundles the CLI (src/cli/main.ts and everything it imports) into one ESM
// file, dist/cli.mjs, so `node bin/watify.mjs` starts without compiling
// TypeScript on every run. node_modules stay external (imported at run time).
//
// Next to it, dist/cli.inputs.json lists the source files esbuild actually
// bundled: bin/watify.mjs compares their mtimes with the bundle's and runs the
// TypeScript source instead when any of them changed, so a stale bundle never
// runs. Run by `postinstall` and `npm run build`.
import { mkdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import path from 'node:path'

const ROOT = path.resolve(import.meta.dirname, '..')
const DIST = path.join(ROOT, 'dist')
const OUT = path.join(DIST, 'cli.mjs')

let esbuild
try {
  esbuild = await import('esbuild')
  // Starts esbuild's native binary: fails here, not mid-build, when the
  // platform package (@esbuild/linux-x64) is missing, e.g. --omit=optional.
  await esbuild.transform('', { loader: 'ts' })
} catch (err) {
  // Not a reason to fail an install: the launcher falls back to tsx, slower but correct.
  console.log(`build-cli: skipped, esbuild is not available (${String(err?.message ?? err).split('\n')[0]}); the CLI will run from source through tsx.`)
  process.exit(0)
}

// The bundle gets this mtime, not its write time: a source file saved while
// the build runs is then newer than the bundle, and the launcher won't trust it.
const started = new Date()
let result
try {
  result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: ['src/cli/main.ts'],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    outfile: OUT,
    metafile: true,
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
  })
} catch (err) {
  // esbuild already formats its errors with file:line and a caret.
  const messages = err?.errors?.length ? await esbuild.formatMessages(err.errors, { kind: 'error', color: false }) : [String(err?.stack ?? err)]
  process.stderr.write(`build-cli: the CLI bundle was not built; bin/watify.mjs will run the source through tsx.\n${messages.join('')}`)
  process.exit(1)
}

mkdirSync(DIST, { recursive: true })
const inputs = Object.keys(result.metafile.inputs)
  .filter((p) => !p.includes('node_modules/'))
  .sort()
// Write to temporary names and rename: a CLI started during the build sees
// either the old complete bundle or the new one, never half a file. The
// inputs list goes first, the bundle last, since the bundle's presence is what
// the launcher checks.
const tmp = (file) => `${file}.${process.pid}.tmp`
const write = (file, contents) => {
  writeFileSync(tmp(file), contents)
  renameSync(tmp(file), file)
}
try {
  write(path.join(DIST, 'cli.inputs.json'), `${JSON.stringify({ inputs }, null, 2)}\n`)
  for (const f of result.outputFiles) {
    if (f.path === OUT) continue
    write(f.path, f.contents)
  }
  const bundle = result.outputFiles.find((f) => f.path === OUT)
  if (!bundle) throw new Error(`esbuild produced no ${path.relative(ROOT, OUT)}`)
  writeFileSync(tmp(OUT), bundle.contents)
  utimesSync(tmp(OUT), started, started)
  renameSync(tmp(OUT), OUT)
} catch (err) {
  rmSync(tmp(OUT), { force: true })
  throw err
}
const kb = (result.outputFiles.find((f) => f.path === OUT).contents.length / 1024).toFixed(0)
console.log(`build-cli: ${path.relative(ROOT, OUT)} (${kb} kB, ${inputs.length} source files, ${Date.now() - started.getTime()}ms)`)
