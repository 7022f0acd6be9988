import { findConfiguredUrl, maskUrl } from '../../db/config.ts'
import { acceptIntoBaseline, DEFAULT_BIG_TABLE_ROWS, inBaseline, lintMigrations, readBaseline, type LintFinding, type LintResult } from '../../migrate/lint.ts'
import { MigrateError } from '../../migrate/errors.ts'
import { displayPath } from '../../migrate/options.ts'
import { MIGRATIONS_DIR_OPTION, type Command } from '../command.ts'
import type { Output } from '../output.ts'

function findingLines(f: LintFinding): string[] {
  return [`${f.migration}/${f.file}:${f.line}  ${f.level}  ${f.rule}: ${f.message}`, ...(f.fix ? [`    Fix: ${f.fix}`] : [])]
}

/** Prints what a migration author must see: errors, and the warnings of migrations after the baseline. Shared with migrate:create. */
export function printLint(out: Output, r: LintResult): void {
  const baseline = readBaseline(r.baselinePath)
  const big = r.bigTables.map((t) => (t.why === 'always' ? `${t.name}${t.rows !== null ? ` (~${t.rows} rows)` : ''}` : `${t.name} (~${t.rows} rows)`)).join(', ')
  const db = r.database.state === 'checked' ? 'live row estimates read' : r.database.state === 'unreachable' ? `database unreachable (${r.database.detail?.replace(/\.$/, '')}), no live row estimates` : 'no database configured, no live row estimates'
  out.out(`Lint: ${r.migrations.length} migration${r.migrations.length === 1 ? '' : 's'} with squawk ${r.squawkVersion}; big tables: ${big}; ${db}`)
  for (const f of r.findings) {
    if (f.acceptedBecause) continue
    if (f.level === 'warning' && inBaseline(baseline, f.migration)) continue
    for (const line of findingLines(f)) (f.level === 'error' ? out.err : out.out)(line)
  }
  for (const e of r.staleBaseline) out.out(`Baseline entry matches nothing any more: ${e.migration}/${e.file}:${e.line} ${e.rule}`)
  const acceptedCount = r.findings.filter((f) => f.acceptedBecause).length
  if (acceptedCount) out.out(`Accepted by the baseline: ${acceptedCount} finding${acceptedCount === 1 ? '' : 's'} (${displayPath(r.baselinePath)})`)
}

export const lintCommand: Command = {
  name: 'migrate:lint',
  scriptNames: ['migrate:lint'],
  summary: 'Check migrations for operations that lock big tables (squawk + big-table and data-loss checks); the baseline accepts the old history.',
  options: [
    { name: 'big-table-rows', type: 'string', valueName: '<n>', description: `Live row estimate from which a table counts as big (default ${DEFAULT_BIG_TABLE_ROWS}); messages and subscribers always do` },
    { name: 'offline', type: 'boolean', description: 'Do not connect for live row estimates, even when a database URL is set' },
    { name: 'json', type: 'boolean', description: 'Print one JSON object (for scripts)' },
    { name: 'accept', type: 'string', valueName: '<migration>', description: 'Add the current errors of this migration to the baseline (history that predates the gate), with --reason' },
    { name: 'reason', type: 'string', valueName: '<text>', description: 'Why the findings added by --accept are acceptable' },
    MIGRATIONS_DIR_OPTION,
  ],
  examples: ['npm run migrate:lint', 'npm run migrate:lint -- --big-table-rows=50000', 'npm run migrate:lint -- --accept=007_add_database_rules --reason="applied to empty tables before the lint gate"'],
  exitCodes: [['OK', 'no errors (or all accepted by the baseline)'], ['FAILED', 'errors: a locking operation on a big table, missing lock_timeout, a destructive change without a data-keeping down.sql'], ['BAD_INPUT', 'bad arguments'], ['HISTORY', 'a migration folder without migration.sql']],
  async run(ctx) {
    const rowsArg = ctx.values['big-table-rows'] as string | undefined
    const bigTableRows = rowsArg === undefined ? undefined : /^\d+$/.test(rowsArg) ? Number(rowsArg) : NaN
    if (ctx.values.reason !== undefined && ctx.values.accept === undefined) throw new MigrateError('BAD_ARGUMENT', '`--reason` only goes with `--accept`.', { hint: 'Example: `npm run migrate:lint -- --accept=<migration> --reason="..."`' })
    // Live estimates only from a configured database: linting never starts the embedded server.
    const configured = ctx.values.offline ? null : findConfiguredUrl('schema')
    const r = await lintMigrations({
      ...(ctx.migrationsDir ? { migrationsDir: ctx.migrationsDir } : {}),
      ...(configured ? { url: configured.url } : {}),
      ...(bigTableRows !== undefined ? { bigTableRows } : {}),
    })
    if (ctx.values.accept !== undefined) {
      const added = acceptIntoBaseline(r, ctx.values.accept as string, (ctx.values.reason as string | undefined) ?? '')
      ctx.out.out(`Accepted: ${added.length} finding${added.length === 1 ? '' : 's'} of ${ctx.values.accept} into ${displayPath(r.baselinePath)}`)
      return 0
    }
    if (ctx.values.json) {
      ctx.out.out(JSON.stringify({ ok: r.errors.length === 0, squawkVersion: r.squawkVersion, bigTables: r.bigTables, database: r.database.state, errors: r.errors, findings: r.findings, staleBaseline: r.staleBaseline }))
      return r.errors.length ? 1 : 0
    }
    if (configured) ctx.out.out(`Database: ${maskUrl(configured.url)}`)
    printLint(ctx.out, r)
    const failing = new Set(r.errors.map((e) => e.migration))
    if (r.errors.length === 0) ctx.out.out('Done: no errors')
    else ctx.out.err(`Failed: ${r.errors.length} error${r.errors.length === 1 ? '' : 's'} in ${failing.size} migration${failing.size === 1 ? '' : 's'} (${[...failing].join(', ')})`)
    return r.errors.length ? 1 : 0
  },
}
