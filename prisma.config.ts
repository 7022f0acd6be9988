// Prisma CLI configuration. Loaded by every `npx prisma ...` command before it
// looks for its schema engine, so it can:
//  - point the CLI at our WebAssembly engine stand-in (no native download),
//    unless the user chose an engine with PRISMA_SCHEMA_ENGINE_BINARY;
//  - supply the database URL: DIRECT_DATABASE_URL, else DATABASE_URL
//    (environment or .env), or else the project's embedded PostgreSQL, started
//    on demand. The CLI changes the schema and takes a session-level advisory
//    lock, so it must not go through the app's transaction pooler;
//  - regenerate the client after the commands that change the schema or the
//    database to match it: Prisma 7's `migrate dev` no longer does, and a
//    field just migrated would fail with `Unknown argument` until it was.
import { fileURLToPath } from 'node:url'

import { defineConfig } from 'prisma/config'

import { findConfiguredUrl, resolveDatabaseUrl } from './src/db/config.ts'
import { DatabaseUrlError } from './src/db/url.ts'
import { hidePassword } from './src/engine/secrets.ts'
import { ensureClientFresh } from './src/migrate/generate.ts'

process.env.PRISMA_SCHEMA_ENGINE_BINARY ||= fileURLToPath(new URL('./bin/schema-engine.mjs', import.meta.url))

// Commands that never connect must not start a server (e.g. `prisma generate`
// from `npm install`); anything else, Studio included, gets a running one.
const OFFLINE_COMMANDS = new Set(['generate', 'validate', 'format', 'version', '-v', '--version', 'init', 'debug'])
const command = process.argv.slice(2).find((a) => !a.startsWith('-') || a === '-v' || a === '--version')
const args = process.argv.slice(2)
const offlineCommand = (command !== undefined && OFFLINE_COMMANDS.has(command)) || args.includes('-h') || args.includes('--help')
const offline = offlineCommand && !findConfiguredUrl('schema')
const OFFLINE_URL = 'postgresql://offline@127.0.0.1:1/not_started'

const { url: resolvedUrl } = offline
  ? { url: OFFLINE_URL }
  : await resolveDatabaseUrl({ log: (line) => process.stderr.write(`${line}\n`), purpose: 'schema' })

// The CLI passes the datasource to the schema engine in its argument list,
// which `ps` shows: give it the URLs without passwords, and the engine stand-in
// the passwords through the environment (src/engine/secrets.ts). Studio runs
// in this process and connects itself, so it keeps the whole URL.
const hide = (u: string): string => {
  try {
    return command === 'studio' ? u : hidePassword(u, process.env)
  } catch (err) {
    // A URL that reads more than one way: refused, never echoed (commands that never connect go on without it).
    if (err instanceof DatabaseUrlError && offlineCommand) return OFFLINE_URL
    if (err instanceof DatabaseUrlError) throw new Error(`Cannot use the database URL: ${err.message} ${err.hint}.`)
    throw err
  }
}
const url = hide(resolvedUrl)
const shadowDatabaseUrl = process.env.SHADOW_DATABASE_URL ? hide(process.env.SHADOW_DATABASE_URL) : undefined

// Runs after the command, on success only, and only when schema.prisma differs
// from the schema the generated client was made from.
const REGENERATE_AFTER = new Set(['migrate dev', 'migrate reset', 'db push', 'db pull'])
if (REGENERATE_AFTER.has(args.filter((a) => !a.startsWith('-')).slice(0, 2).join(' '))) {
  process.on('exit', (code) => {
    if (code !== 0) return
    try {
      if (ensureClientFresh({ stdio: 'inherit' }).regenerated) process.stderr.write('Regenerated the Prisma client (src/generated/prisma) to match prisma/schema.prisma.\n')
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\nRun \`npm run generate\`.\n`)
      process.exitCode = 1
    }
  })
}

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: {
    path: 'prisma/migrations',
    seed: 'node --import tsx seeds/index.ts',
  },
  datasource: {
    url,
    ...(shadowDatabaseUrl ? { shadowDatabaseUrl } : {}),
  },
})
