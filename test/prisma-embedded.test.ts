// The zero-install default through the project's own prisma.config.ts: with
// no DATABASE_URL anywhere, `npx prisma migrate deploy` / `migrate status`
// start the embedded PostgreSQL on demand and use it. A private data folder
// and port keep the developer's own embedded server out of it.
import assert from 'node:assert/strict'
import { randomInt } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, test } from 'node:test'

import { query } from './helpers/db.ts'
import { migrationFolders } from './helpers/migrations.ts'
import { PRISMA_BIN, ROOT, run } from './helpers/prisma.ts'

mkdirSync(join(ROOT, 'test/.tmp'), { recursive: true })
// A scratch project root: no .env there, so no DATABASE_URL can leak in.
const scratch = mkdtempSync(join(ROOT, 'test/.tmp/embedded-default-'))
writeFileSync(join(scratch, 'package.json'), '{}')
const port = randomInt(21000, 29000)
const env: NodeJS.ProcessEnv = {
  DATABASE_URL: '',
  WATIFY_PROJECT_ROOT: scratch,
  WATIFY_EMBEDDED_DIR: join(scratch, 'pg'),
  WATIFY_EMBEDDED_PORT: String(port),
}
const embeddedCli = (cmd: string) => run(process.execPath, ['--import', 'tsx', 'src/db/embedded/cli.ts', cmd], { env })

after(async () => {
  await embeddedCli('stop')
  rmSync(scratch, { recursive: true, force: true })
})

test('npx prisma migrate deploy and status start and use the embedded PostgreSQL', async () => {
  const before = await embeddedCli('status')
  assert.equal(before.code, 3, 'no server yet')

  const deploy = await run(PRISMA_BIN, ['migrate', 'deploy'], { env })
  assert.equal(deploy.code, 0, deploy.stdout + deploy.stderr)
  assert.match(deploy.stdout, new RegExp(`Datasource "db": PostgreSQL database "watify", schema "public" at "127.0.0.1:${port}"`))
  assert.match(deploy.stdout, /All migrations have been successfully applied\./)

  const status = await run(PRISMA_BIN, ['migrate', 'status'], { env })
  assert.equal(status.code, 0, status.stdout + status.stderr)
  assert.match(status.stdout, /Database schema is up to date!/)

  const ensure = await embeddedCli('ensure')
  assert.equal(ensure.code, 0, ensure.stderr)
  const url = ensure.stdout.trim()
  assert.match(url, new RegExp(`^postgresql://postgres:[^@]+@127\\.0\\.0\\.1:${port}/watify$`))
  const rows = await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL`)
  assert.deepEqual(rows, [{ n: migrationFolders().length }])
  const enc = await query(url, `SELECT pg_encoding_to_char(encoding) AS e FROM pg_database WHERE datname = 'watify'`)
  assert.deepEqual(enc, [{ e: 'UTF8' }])
  // the password printed by `ensure` is for scripts; the CLI never shows it
  const password = decodeURIComponent(new URL(url).password)
  assert.ok(!(deploy.stdout + deploy.stderr + status.stdout + status.stderr).includes(password))
})
