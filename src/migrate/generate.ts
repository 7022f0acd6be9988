// Keeping the generated Prisma client in step with prisma/schema.prisma.
// Prisma 7's `migrate dev` no longer runs `prisma generate`, so a field just
// migrated would fail at run time (`Unknown argument`) until someone did. The
// generated client embeds the schema it was made from (`inlineSchema`), so
// staleness is a plain comparison: no stamp files, nothing to forget.
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { projectRoot } from '../db/config.ts'
import { runProcessSync } from '../process.ts'
import { MigrateError } from './errors.ts'
import { withLocalBin } from './options.ts'

export type ClientState = 'fresh' | 'stale' | 'missing'

/** Where `prisma generate` writes (the `output` of schema.prisma's generator). */
export function generatedClientFile(root: string = projectRoot()): string {
  return path.join(root, 'src', 'generated', 'prisma', 'internal', 'class.ts')
}

/** Whether the generated client was made from the current schema.prisma. */
export function clientState(root: string = projectRoot()): ClientState {
  const file = generatedClientFile(root)
  if (!existsSync(file)) return 'missing'
  const m = /"inlineSchema": ("(?:[^"\\]|\\.)*")/.exec(readFileSync(file, 'utf8'))
  if (!m) return 'stale'
  const schema = readFileSync(path.join(root, 'prisma', 'schema.prisma'), 'utf8')
  return JSON.parse(m[1]!) === schema ? 'fresh' : 'stale'
}

/**
 * Runs `prisma generate` when the client is stale. Synchronous so
 * that prisma.config.ts can call it from an exit handler. Returns whether it
 * regenerated; `output` receives Prisma's own lines (default: none shown).
 */
export function ensureClientFresh(opts: { root?: string; stdio?: 'inherit' | 'pipe' } = {}): { regenerated: boolean; state: ClientState } {
  const root = opts.root ?? projectRoot()
  const state = clientState(root)
  // Never generated (a copy without `npm install`): not ours to start; importing it says what is missing.
  if (state !== 'stale') return { regenerated: false, state }
  const bin = path.join(root, 'node_modules', '.bin', 'prisma')
  const r = runProcessSync(bin, ['generate'], { cwd: root, env: withLocalBin(root, process.env), inheritOutput: opts.stdio === 'inherit' })
  if (r.code !== 0) {
    throw new MigrateError('PRISMA_CLI', `\`prisma generate\` failed (exit code ${r.code ?? r.signal}): the Prisma client does not match prisma/schema.prisma.`, {
      hint: 'Run `npm run generate` and fix what it reports',
      details: `${r.stderr}${r.stdout}`.trim().split('\n').slice(-10).map((l) => `    ${l}`),
    })
  }
  return { regenerated: true, state }
}
