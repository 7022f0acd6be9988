// Runs the real, unmodified Prisma CLI as a child process in a throwaway
// project folder whose prisma.config.ts selects our Wasm engine stand-in.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

import { runProcess } from '../../src/process.ts'

export const ROOT = resolve(import.meta.dirname, '../..')
export const PRISMA_BIN = join(ROOT, 'node_modules/.bin/prisma')
export const ENGINE_BIN = join(ROOT, 'bin/schema-engine.mjs')

export interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `cmd args` and collects its output; never throws on a non-zero exit. */
export async function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<Run> {
  const { code, stdout, stderr } = await runProcess(cmd, args, {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, NO_COLOR: '1', CI: '1', ...opts.env },
    input: opts.input ?? '',
    timeoutMs: opts.timeoutMs ?? 120_000,
  })
  return { code, stdout, stderr }
}

export interface TempProject {
  dir: string
  writeSchema(models: string): void
  prisma(args: string[], env?: NodeJS.ProcessEnv): Promise<Run>
  remove(): void
}

/** A project folder under test/.tmp (so `prisma/config` resolves from our node_modules). */
export function tempProject(databaseUrl: string, models: string): TempProject {
  const base = join(ROOT, 'test/.tmp')
  mkdirSync(base, { recursive: true })
  const dir = mkdtempSync(join(base, 'prj-'))
  mkdirSync(join(dir, 'prisma'))
  writeFileSync(
    join(dir, 'prisma.config.ts'),
    `import { defineConfig } from 'prisma/config'
process.env.PRISMA_SCHEMA_ENGINE_BINARY ||= ${JSON.stringify(ENGINE_BIN)}
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL! },
})
`,
  )
  const project: TempProject = {
    dir,
    writeSchema(m: string) {
      writeFileSync(join(dir, 'prisma/schema.prisma'), `datasource db {\n  provider = "postgresql"\n}\n\n${m}\n`)
    },
    prisma(args, env = {}) {
      return run(PRISMA_BIN, args, { cwd: dir, env: { DATABASE_URL: databaseUrl, ...env } })
    },
    remove() {
      rmSync(dir, { recursive: true, force: true })
    },
  }
  project.writeSchema(models)
  return project
}
