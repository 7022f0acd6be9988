// Runs the real, unmodified Prisma CLI as a child process in a throwaway
// project folder whose prisma.config.ts selects our Wasm engine stand-in.
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

export const ROOT = resolve(import.meta.dirname, '../..')
export const PRISMA_BIN = join(ROOT, 'node_modules/.bin/prisma')
export const ENGINE_BIN = join(ROOT, 'bin/schema-engine.mjs')

export interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `cmd args` and collects its output; never throws on a non-zero exit. */
export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, NO_COLOR: '1', CI: '1', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolvePromise({ code, stdout, stderr })
    })
    child.stdin.end(opts.input ?? '')
  })
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
