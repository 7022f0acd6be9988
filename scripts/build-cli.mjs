#!/usr/bin/env node
// Bundles the project's two command-line entry points into ESM files so they
// start without compiling TypeScript on every run (node_modules stay external,
// imported at run time):
//   src/cli/main.ts    -> dist/cli.mjs            (bin/watify.mjs: npm run migrate, ...)
//   src/engine/main.ts -> dist/schema-engine.mjs  (bin/schema-engine.mjs: every `prisma` command)
//
// Next to each, dist/<name>.inputs.json lists the source files esbuild actually
// bundled: bin/launch.mjs compares their mtimes with the bundle's and runs the
// TypeScript source instead when any of them changed, so a stale bundle never
// runs. Run by `postinstall` and `npm run build`.
import { mkdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import path from 'node:path'

const ROOT = path.resolve(import.meta.dirname, '..')
const DIST = path.join(ROOT, 'dist')
const ENTRIES = [
  { name: 'cli', source: 'src/cli/main.ts', launcher: 'bin/watify.mjs' },
  { name: 'schema-engine', source: 'src/engine/main.ts', launcher: 'bin/schema-engine.mjs' },
]

let esbuild
try {
  esbuild = await import('esbuild')
  // Starts esbuild's native binary: fails here, not mid-build, when the
  // platform package (@esbuild/linux-x64) is missing, e.g. --omit=optional.
  await esbuild.transform('', { loader: 'ts' })
} catch (err) {
  // Not a reason to fail an install: the launchers fall back to tsx, slower but correct.
  console.log(`build-cli: skipped, esbuild is not available (${String(err?.message ?? err).split('\n')[0]}); the CLI will run from source through tsx.`)
  process.exit(0)
}

// Write to temporary names and rename: a process started during the build sees
// either the old complete bundle or the new one, never half a file.
const tmp = (file) => `${file}.${process.pid}.tmp`
const write = (file, contents) => {
  writeFileSync(tmp(file), contents)
  renameSync(tmp(file), file)
}

async function bundle({ name, source, launcher }) {
  const out = path.join(DIST, `${name}.mjs`)
  // The bundle gets this mtime, not its write time: a source file saved while
  // the build runs is then newer than the bundle, and the launcher won't trust it.
  const started = new Date()
  let result
  try {
    result = await esbuild.build({
      absWorkingDir: ROOT,
      entryPoints: [source],
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      sourcemap: 'linked',
      outfile: out,
      metafile: true,
      write: false,
      logLevel: 'silent',
      legalComments: 'none',
    })
  } catch (err) {
    // esbuild already formats its errors with file:line and a caret.
    const messages = err?.errors?.length ? await esbuild.formatMessages(err.errors, { kind: 'error', color: false }) : [String(err?.stack ?? err)]
    process.stderr.write(`build-cli: the ${name} bundle was not built; ${launcher} will run the source through tsx.\n${messages.join('')}`)
    process.exit(1)
  }

  mkdirSync(DIST, { recursive: true })
  const inputs = Object.keys(result.metafile.inputs)
    .filter((p) => !p.includes('node_modules/'))
    .sort()
  // The inputs list goes first, the bundle last: the bundle's presence is what the launcher checks.
  try {
    write(path.join(DIST, `${name}.inputs.json`), `${JSON.stringify({ inputs }, null, 2)}\n`)
    for (const f of result.outputFiles) {
      if (f.path === out) continue
      write(f.path, f.contents)
    }
    const code = result.outputFiles.find((f) => f.path === out)
    if (!code) throw new Error(`esbuild produced no ${path.relative(ROOT, out)}`)
    writeFileSync(tmp(out), code.contents)
    utimesSync(tmp(out), started, started)
    renameSync(tmp(out), out)
    const kb = (code.contents.length / 1024).toFixed(0)
    console.log(`build-cli: ${path.relative(ROOT, out)} (${kb} kB, ${inputs.length} source files, ${Date.now() - started.getTime()}ms)`)
  } catch (err) {
    rmSync(tmp(out), { force: true })
    throw err
  }
}

for (const entry of ENTRIES) await bundle(entry)
