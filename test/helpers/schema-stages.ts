// Staged copies of the schema, one per generated migration (001-005), and the Prisma CLI
// calls that turn consecutive stages into migration.sql / down.sql. The stages are cut
// from test/fixtures/schema-001-005.prisma, the schema as it was when 001-005 were
// generated: later migrations (008 …) change prisma/schema.prisma, not that history.
//
// Regenerate the generated history after changing the schema (the tests compare with it):
//   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres tsx test/helpers/schema-stages.ts --write
import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

import { serverUrl } from './db.ts'

const run = promisify(execFile)

export const projectDir = fileURLToPath(new URL('../../', import.meta.url))
export const schemaPath = path.join(projectDir, 'prisma/schema.prisma')
/** The schema 001-005 were generated from (frozen: the history does not change with the schema). */
export const historySchemaPath = path.join(projectDir, 'test/fixtures/schema-001-005.prisma')
export const migrationsDir = path.join(projectDir, 'prisma/migrations')

/** The seed's order: each migration introduces one table plus the join tables it brings along. */
export const STAGES: ReadonlyArray<{ folder: string; models: readonly string[] }> = [
  { folder: '001_create_users_table', models: ['User'] },
  { folder: '002_create_whatsapp_groups_table', models: ['WhatsappGroup', 'GroupAdmin'] },
  { folder: '003_create_subscribers_table', models: ['Subscriber', 'GroupMember'] },
  { folder: '004_create_messages_table', models: ['Message'] },
  { folder: '005_create_campaigns_table', models: ['Campaign', 'CampaignGroup'] },
]

interface Block { kind: 'model' | 'enum' | 'other'; name: string; lines: string[] }

function parseBlocks(schema: string): Block[] {
  const blocks: Block[] = []
  let current: Block | null = null
  for (const line of schema.split('\n')) {
    if (!current) {
      const m = /^(model|enum|generator|datasource)\s+(\w+)\s*\{/.exec(line)
      if (m) {
        current = { kind: m[1] === 'model' || m[1] === 'enum' ? (m[1] as 'model' | 'enum') : 'other', name: m[2]!, lines: [line] }
      }
      continue
    }
    current.lines.push(line)
    if (/^\}/.test(line)) {
      blocks.push(current)
      current = null
    }
  }
  return blocks
}

/** The schema restricted to `models`: relation fields to other models dropped, unused enums dropped. */
export function stageSchema(schema: string, models: ReadonlySet<string>): string {
  const blocks = parseBlocks(schema)
  const allModels = new Set(blocks.filter((b) => b.kind === 'model').map((b) => b.name))
  const enums = new Set(blocks.filter((b) => b.kind === 'enum').map((b) => b.name))
  const fieldType = (line: string): string | undefined => /^\s+\w+\s+(\w+)/.exec(line)?.[1]
  const kept: string[] = []
  const usedEnums = new Set<string>()
  for (const b of blocks) {
    if (b.kind !== 'model' || !models.has(b.name)) continue
    const lines = b.lines.filter((l) => {
      const t = fieldType(l)
      return !(t && allModels.has(t) && !models.has(t))
    })
    for (const l of lines) {
      const t = fieldType(l)
      if (t && enums.has(t)) usedEnums.add(t)
    }
    kept.push(lines.join('\n'))
  }
  const head = blocks.filter((b) => b.kind === 'other').map((b) => b.lines.join('\n'))
  const enumBlocks = blocks.filter((b) => b.kind === 'enum' && usedEnums.has(b.name)).map((b) => b.lines.join('\n'))
  return [...head, ...enumBlocks, ...kept].join('\n\n') + '\n'
}

/**
 * Writes the stage files to a temporary folder and returns their paths: index 0 is the
 * empty datamodel (generator and datasource only), index i the schema after migration i.
 *
 * Why an empty datamodel rather than --from-empty/--to-empty: those describe a database
 * without any schema, so Prisma adds `CREATE SCHEMA IF NOT EXISTS "public"` and qualifies
 * the down script (`DROP TABLE "public"."users"`), which breaks a database using
 * `?schema=app`. `prisma migrate dev` itself diffs against a fresh shadow database (empty
 * schema present), which is exactly what the empty datamodel describes.
 */
export function writeStages(schema = readFileSync(historySchemaPath, 'utf8')): string[] {
  const dir = path.join(tmpdir(), `watify-stages-${process.pid}`)
  mkdirSync(dir, { recursive: true })
  const models = new Set<string>()
  const files = [path.join(dir, 'stage0.prisma')]
  writeFileSync(files[0]!, stageSchema(schema, models))
  for (const [i, s] of STAGES.entries()) {
    for (const m of s.models) models.add(m)
    const file = path.join(dir, `stage${i + 1}.prisma`)
    writeFileSync(file, stageSchema(schema, models))
    files.push(file)
  }
  return files
}

export const PRISMA_CLI = path.join(projectDir, 'node_modules', '.bin', 'prisma')

/**
 * `prisma migrate diff ... --script` through the project's CLI and config, on the tests'
 * server (the CLI connects even to diff two schema files): with TEST_DATABASE_URL set, the
 * project's own embedded server is not started for it.
 */
export async function prismaDiff(from: string, to: string): Promise<string> {
  const args = ['migrate', 'diff', '--from-schema', from, '--to-schema', to, '--script']
  const url = await serverUrl()
  const { stdout } = await run(PRISMA_CLI, args, { cwd: projectDir, maxBuffer: 16 << 20, env: { ...process.env, DATABASE_URL: url, DIRECT_DATABASE_URL: url } })
  return stdout
}

/**
 * Data statements a generated down.sql needs before its DDL, so that the
 * migration applies again on the data the rollback leaves: the engine diffs
 * schemas and cannot know these.
 */
export const DOWN_DATA_PREAMBLE: Record<string, string> = {
  '005_create_campaigns_table': [
    '-- Data: without campaigns, the campaign ids that messages keep would point at nothing,',
    "-- and applying this migration again could not add messages' foreign key. They are",
    '-- cleared (the rollback reports how many).',
    'UPDATE "messages" SET "campaign_id" = NULL WHERE "campaign_id" IS NOT NULL;',
    '',
    '',
  ].join('\n'),
}

/** migration.sql and down.sql for every generated migration, as Prisma Migrate produces them now (plus DOWN_DATA_PREAMBLE). */
export async function generatedHistory(): Promise<Array<{ folder: string; up: string; down: string }>> {
  const stages = writeStages()
  // Each CLI run spends seconds starting up; run them side by side.
  return await Promise.all(
    STAGES.map(async (s, i) => {
      const prev = stages[i]!
      const next = stages[i + 1]!
      const [up, down] = await Promise.all([prismaDiff(prev, next), prismaDiff(next, prev)])
      return { folder: s.folder, up, down: (DOWN_DATA_PREAMBLE[s.folder] ?? '') + down }
    }),
  ).finally(() => rmSync(path.dirname(stages[0]!), { recursive: true, force: true }))
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1]) && process.argv.includes('--write')) {
  for (const m of await generatedHistory()) {
    const dir = path.join(migrationsDir, m.folder)
    mkdirSync(dir, { recursive: true })
    writeFileSync(path.join(dir, 'migration.sql'), m.up)
    writeFileSync(path.join(dir, 'down.sql'), m.down)
    process.stdout.write(`Wrote: ${path.relative(projectDir, dir)}/{migration,down}.sql\n`)
  }
}
