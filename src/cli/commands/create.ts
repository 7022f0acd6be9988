import { createMigration, ensureClientFresh, MigrateError } from '../../migrate/index.ts'
import { lintMigrations } from '../../migrate/lint.ts'
import { CLIENT_REGENERATED } from '../render.ts'
import { MIGRATIONS_DIR_OPTION, type Command } from '../command.ts'
import { printLint } from './lint.ts'

export const createCommand: Command = {
  name: 'migrate:create',
  scriptNames: ['migrate:create'],
  summary: 'Create the next migration (migration.sql + a round-trip-checked down.sql) from changes to prisma/schema.prisma.',
  options: [
    { name: 'name', type: 'string', valueName: '<snake_case_name>', description: 'What the migration does, e.g. add_message_reactions (required)' },
    { name: 'empty', type: 'boolean', description: 'Create an empty migration for hand-written SQL (down.sql is a stub to complete)' },
    { name: 'schema', type: 'string', valueName: '<path>', description: 'Prisma schema to diff against (default prisma/schema.prisma)' },
    MIGRATIONS_DIR_OPTION,
  ],
  examples: ['npm run migrate:create -- --name add_message_reactions', 'npm run migrate:create -- --name backfill_phone_numbers --empty'],
  exitCodes: [['OK', 'created, or nothing changed (nothing created)'], ['FAILED', 'prisma migrate diff failed'], ['BAD_INPUT', 'missing or invalid --name, or a URL schema changes cannot use'], 'HISTORY'],
  async run(ctx) {
    const name = ctx.values.name as string | undefined
    if (!name) throw new MigrateError('BAD_ARGUMENT', '`--name` is required.', { hint: 'Example: `npm run migrate:create -- --name add_message_reactions`' })
    // Prisma's diff replays the migrations on shadow databases on the resolved server (src/migrate/options.ts prismaChildEnv).
    const needsDb = ctx.values.empty !== true
    const db = needsDb ? await ctx.database() : undefined
    const r = await createMigration({
      name,
      empty: ctx.values.empty === true,
      logger: ctx.out.logger,
      ...(ctx.migrationsDir ? { migrationsDir: ctx.migrationsDir } : {}),
      ...(db ? { url: db.url } : {}),
      ...(ctx.values.schema ? { schemaPath: ctx.values.schema as string } : {}),
    })
    if (!r.name) return 0
    ctx.out.out('  migration.sql')
    ctx.out.out('  down.sql')
    for (const note of r.notes) ctx.out.out(`Note: ${note}`)
    for (const note of r.needsHandWork) ctx.out.out(`By hand: ${note}`)
    // The new migration is after the lint baseline: it must pass `migrate:lint` (CI runs it).
    const lint = await lintMigrations({ only: [r.name], ...(ctx.migrationsDir ? { migrationsDir: ctx.migrationsDir } : {}), ...(db ? { url: db.url } : {}) })
    printLint(ctx.out, lint)
    if (lint.errors.length) ctx.out.out(`By hand: fix the ${lint.errors.length} lint error${lint.errors.length === 1 ? '' : 's'} above before applying it (\`npm run migrate:lint\`)`)
    if (!ctx.values.schema && !ctx.values.empty && ensureClientFresh().regenerated) ctx.out.out(CLIENT_REGENERATED)
    ctx.out.out(`Next: review both files, then \`npm run migrate:lint\`, \`npm run migrate:verify\` and \`npm run migrate\``)
    return 0
  },
}
