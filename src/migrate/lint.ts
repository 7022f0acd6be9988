// `migrate:lint`: checks migrations for operations that would stop the service
// on a production-sized database. squawk (pinned npm package, runs offline)
// finds the risky statements; this module adds what squawk cannot know:
//  - which tables are big: `messages` and `subscribers` always, plus any table
//    whose live row estimate (pg_class.reltuples) reaches a threshold when a
//    database is reachable. A locking operation fails only on a big table (or
//    one it cannot name); on a small table it is advice.
//  - destructive changes (DROP TABLE / DROP COLUMN) need a down.sql that puts
//    the data back, not just the structure.
//  - migrations that declare `-- watify:no-transaction` on their first line run
//    outside a transaction, so CREATE INDEX CONCURRENTLY is right there.
// The history that predates the gate is accepted by a baseline file listing
// every accepted finding with its reason; migrations after it must pass.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { runProcess } from '../process.ts'
import { connect } from './connection.ts'
import { MigrateError } from './errors.ts'
import { INCOMPLETE_DOWN_MARKER, NO_TRANSACTION_MARKER, readMigrations, runsOutsideTransaction, type LocalMigration } from './files.ts'
import { defaultMigrationsDir } from './options.ts'
import { findDataDrops, splitStatements, statementTable } from './sql.ts'

/** First line of a migration.sql / down.sql that runs outside a transaction, statement by statement. */
export const ALWAYS_BIG_TABLES = ['messages', 'subscribers'] as const
/** Live row estimate from which a table counts as big. */
export const DEFAULT_BIG_TABLE_ROWS = 100_000

// squawk rules whose statement holds a lock that blocks reads or writes of the
// table for a full scan or rewrite: fatal on a big table, advice on a small one.
const LOCKING_RULES = new Set([
  'require-concurrent-index-creation',
  'require-concurrent-index-deletion',
  'constraint-missing-not-valid',
  'adding-foreign-key-constraint',
  'adding-not-nullable-field',
  'adding-required-field',
  'adding-field-with-default',
  'changing-column-type',
  'disallowed-unique-constraint',
  'adding-serial-primary-key-field',
])
// Wrong wherever they appear.
const ALWAYS_ERROR_RULES = new Set(['ban-concurrent-index-creation-in-transaction', 'transaction-nesting'])
// The runner sets lock_timeout and statement_timeout for every statement (ours and
// `npx prisma migrate deploy` through the stand-in), so squawk's advice to set them
// in the file does not apply; a file that sets them anyway gets watify-own-timeout.
const RUNNER_OWNED_RULES = ['require-lock-timeout', 'require-statement-timeout']

const FIXES: Record<string, string> = {
  'require-concurrent-index-creation': `Use CREATE INDEX CONCURRENTLY, in a migration whose first line is \`${NO_TRANSACTION_MARKER}\` (it then runs outside a transaction, statement by statement)`,
  'require-concurrent-index-deletion': `Use DROP INDEX CONCURRENTLY, in a migration whose first line is \`${NO_TRANSACTION_MARKER}\``,
  'constraint-missing-not-valid': 'Add the constraint NOT VALID, then `ALTER TABLE ... VALIDATE CONSTRAINT ...` in a later migration (validation does not block writes)',
  'adding-foreign-key-constraint': 'Add the foreign key NOT VALID, then VALIDATE CONSTRAINT in a later migration',
  'adding-not-nullable-field': 'Add `CHECK (col IS NOT NULL) NOT VALID`, VALIDATE it in a later migration, then SET NOT NULL (PostgreSQL uses the validated check and skips the scan)',
  'adding-required-field': 'Add the column nullable (or with a constant default), backfill in batches, then make it NOT NULL through a validated CHECK',
  'adding-field-with-default': 'Add the column without a default or with a constant one; backfill volatile values (now(), random(), gen_random_uuid()) in batches',
  'changing-column-type': 'Add a new column, backfill it in batches, switch the code, drop the old column in a later migration',
  'disallowed-unique-constraint': `Build the unique index CONCURRENTLY (\`${NO_TRANSACTION_MARKER}\` migration), then \`ADD CONSTRAINT ... UNIQUE USING INDEX\``,
  'adding-serial-primary-key-field': 'Add the column nullable, backfill, build a unique index CONCURRENTLY, then ADD PRIMARY KEY USING INDEX',
  'ban-concurrent-index-creation-in-transaction': `Make \`${NO_TRANSACTION_MARKER}\` the first line of the file: CONCURRENTLY cannot run inside the migration's transaction`,
}

export interface LintFinding {
  migration: string
  file: 'migration.sql' | 'down.sql'
  line: number
  rule: string
  level: 'error' | 'warning'
  /** The table the statement works on, when it names one. */
  table?: string
  message: string
  fix?: string
  /** Set when the baseline accepts it: the reason given there. */
  acceptedBecause?: string
}

export interface BaselineEntry {
  migration: string
  file: 'migration.sql' | 'down.sql'
  line: number
  rule: string
  table?: string
  reason: string
}

export interface Baseline {
  /** The last migration the baseline covers: everything up to it was applied before the gate. */
  through: string
  accepted: BaselineEntry[]
}

export interface BigTable {
  name: string
  rows: number | null
  why: 'always' | 'live estimate'
}

export interface LintResult {
  squawkVersion: string
  migrations: string[]
  bigTables: BigTable[]
  /** Where the live row estimates came from. */
  database: { state: 'checked' | 'not configured' | 'unreachable'; detail?: string }
  /** Every finding of the checked migrations (warnings of baselined migrations included). */
  findings: LintFinding[]
  /** Errors not accepted by the baseline: the lint fails when there is one. */
  errors: LintFinding[]
  baselinePath: string
  /** Baseline entries that matched no finding (the file they name changed, or the finding went away). */
  staleBaseline: BaselineEntry[]
}

export interface LintOptions {
  migrationsDir?: string
  /** Database for live row estimates; unreachable is reported, not fatal. */
  url?: string
  bigTableRows?: number
  /** Default `migration-lint-baseline.json` beside the migrations folder (prisma/migration-lint-baseline.json). */
  baselinePath?: string
  /** Check only these migrations (folder names). */
  only?: string[]
}

/** The baseline belongs to its history: it sits beside the migrations folder. */
export function baselinePathFor(migrationsDir: string): string {
  return path.join(path.dirname(path.resolve(migrationsDir)), 'migration-lint-baseline.json')
}

function squawkBinary(): string {
  const require = createRequire(import.meta.url)
  const pkg = `@squawk-cli/${process.platform}-${process.arch}`
  try {
    return require.resolve(`${pkg}/bin/${process.platform === 'win32' ? 'squawk.exe' : 'squawk'}`)
  } catch (err) {
    throw new MigrateError('INTERNAL', `squawk is not installed for ${process.platform}-${process.arch} (\`${pkg}\`).`, { hint: 'Run `npm ci` (squawk-cli is a pinned devDependency, installed with its platform binary)', cause: err })
  }
}

function runSquawk(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runProcess(squawkBinary(), args)
}

interface SquawkViolation {
  file: string
  line: number
  rule_name: string
  message: string
  help?: string | null
}

/** squawk on these files, in or out of a transaction; JSON reporter, no config file, nothing uploaded. */
async function squawk(files: string[], inTransaction: boolean): Promise<SquawkViolation[]> {
  if (files.length === 0) return []
  const r = await runSquawk(['--reporter=json', `--exclude=${RUNNER_OWNED_RULES.join(',')}`, inTransaction ? '--assume-in-transaction' : '--no-assume-in-transaction', ...files])
  // Exit 1 means "violations found"; anything unparseable is a real failure.
  try {
    return JSON.parse(r.stdout) as SquawkViolation[]
  } catch (err) {
    throw new MigrateError('INTERNAL', `squawk failed (exit code ${r.code}).`, { hint: 'Run `npx squawk --reporter=json <file>` to see why', details: r.stderr.trim().split('\n').map((l) => `    ${l}`), cause: err })
  }
}

function lineOf(sql: string, index: number): number {
  return sql.slice(0, index).split('\n').length
}

/** The statement of `sql` that covers 1-based `line` (squawk reports where a statement starts). */
function statementAtLine(sql: string, line: number): string | undefined {
  for (const s of splitStatements(sql)) if (lineOf(sql, s.start) <= line && line <= lineOf(sql, s.end)) return s.text
  return undefined
}

export function readBaseline(file: string): Baseline | undefined {
  if (!existsSync(file)) return undefined
  try {
    const b = JSON.parse(readFileSync(file, 'utf8')) as Baseline
    if (typeof b.through !== 'string' || !Array.isArray(b.accepted)) throw new Error('expected {"through": "<migration>", "accepted": [...]}')
    for (const e of b.accepted) if (!e.reason?.trim()) throw new Error(`the entry for ${e.migration} ${e.file}:${e.line} ${e.rule} has no reason`)
    return b
  } catch (err) {
    throw new MigrateError('BAD_ARGUMENT', `The lint baseline \`${path.relative(process.cwd(), file) || file}\` is not valid: ${(err as Error).message}.`, { hint: 'Fix the file (every entry needs a reason) or restore it from git', cause: err })
  }
}

const key = (f: { migration: string; file: string; line: number; rule: string }) => `${f.migration}/${f.file}:${f.line}:${f.rule}`

async function liveBigTables(url: string, threshold: number): Promise<{ tables: BigTable[]; database: LintResult['database'] }> {
  let conn
  try {
    conn = await connect(url, { applicationName: 'wateen-migrate-lint', connectTimeoutMs: 5000, allowStandby: true })
  } catch (err) {
    return { tables: [], database: { state: 'unreachable', detail: (err as Error).message } }
  }
  try {
    const r = await conn.client.query<{ name: string; rows: string }>(
      `SELECT c.relname AS name, c.reltuples::bigint AS rows FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.reltuples >= $2 ORDER BY c.relname`,
      [conn.target.schema, threshold],
    )
    return { tables: r.rows.map((row) => ({ name: row.name, rows: Number(row.rows), why: 'live estimate' as const })), database: { state: 'checked' } }
  } finally {
    await conn.close()
  }
}

const OWN_TIMEOUT = /^(?:SET|RESET)\s+(?:SESSION\s+|LOCAL\s+)?(lock_timeout|statement_timeout)\b/i

/** A file that sets its own time-outs: the runner puts the command's back before the next statement. */
function ownTimeoutFindings(m: LocalMigration, file: 'migration.sql' | 'down.sql', sql: string): LintFinding[] {
  return splitStatements(sql).flatMap((st) => {
    const hit = OWN_TIMEOUT.exec(st.text)
    if (!hit) return []
    return [{
      migration: m.name,
      file,
      line: lineOf(sql, st.start),
      rule: 'watify-own-timeout',
      level: 'warning' as const,
      message: `\`${st.text.split('\n')[0]}\` has no effect: every statement runs under the command's ${hit[1]!.toLowerCase()} (npm run migrate*, npx prisma migrate deploy)`,
      fix: `Remove it; give the command \`--${hit[1]!.toLowerCase() === 'lock_timeout' ? 'lock' : 'statement'}-timeout=<seconds>\` when this migration needs another limit`,
    }]
  })
}

function destructiveFindings(m: LocalMigration, up: string): LintFinding[] {
  const drops = findDataDrops(up)
  if (drops.length === 0) return []
  const down = m.down
  const restoresData = down !== undefined && !down.includes(INCOMPLETE_DOWN_MARKER) && /\bINSERT\s+INTO\b[\s\S]*?\bSELECT\b|\bUPDATE\s+[\s\S]*?\bSET\b/i.test(down)
  if (restoresData) return []
  const why = down === undefined ? 'there is no down.sql' : down.includes(INCOMPLETE_DOWN_MARKER) ? 'down.sql is an unfinished stub' : 'down.sql recreates the structure but puts no data back'
  return drops.map((d) => {
    const what = d.kind === 'table' ? `drops table \`${d.table.name}\`` : `drops column \`${d.table.name}.${d.column}\``
    const stmt = splitStatements(up).find((s) => findDataDrops(s.text).some((x) => x.table.name === d.table.name && (x.kind === 'table' || (d.kind === 'column' && x.kind === 'column' && x.column === d.column))))
    return {
      migration: m.name,
      file: 'migration.sql' as const,
      line: stmt ? lineOf(up, stmt.start) : 1,
      rule: 'watify-destructive-without-data-down',
      level: 'error' as const,
      table: d.table.name,
      message: `Destructive change: migration.sql ${what}, and ${why}`,
      fix: 'Keep the data: copy it to a backup table (or rename instead of dropping) in migration.sql, and restore it with INSERT ... SELECT / UPDATE in down.sql',
    }
  })
}

export async function lintMigrations(opts: LintOptions = {}): Promise<LintResult> {
  const migrationsDir = path.resolve(opts.migrationsDir ?? defaultMigrationsDir())
  const baselinePath = path.resolve(opts.baselinePath ?? baselinePathFor(migrationsDir))
  const threshold = opts.bigTableRows ?? DEFAULT_BIG_TABLE_ROWS
  if (!Number.isInteger(threshold) || threshold < 1) {
    throw new MigrateError('BAD_ARGUMENT', `\`--big-table-rows\` must be a whole number of at least 1, got \`${threshold}\`.`, { hint: `Example: \`npm run migrate:lint -- --big-table-rows=${DEFAULT_BIG_TABLE_ROWS}\`` })
  }
  let migrations = readMigrations(migrationsDir)
  if (opts.only) {
    const unknown = opts.only.filter((n) => !migrations.some((m) => m.name === n))
    if (unknown.length) throw new MigrateError('BAD_ARGUMENT', `No migration named \`${unknown[0]}\`.`, { hint: 'Run `npm run migrate:status` to see the migrations' })
    migrations = migrations.filter((m) => opts.only!.includes(m.name))
  }
  const baseline = readBaseline(baselinePath)

  const bigTables: BigTable[] = ALWAYS_BIG_TABLES.map((name) => ({ name, rows: null, why: 'always' as const }))
  let database: LintResult['database'] = { state: 'not configured' }
  if (opts.url) {
    const live = await liveBigTables(opts.url, threshold)
    database = live.database
    for (const t of live.tables) {
      const known = bigTables.find((b) => b.name === t.name)
      if (known) known.rows = t.rows
      else bigTables.push(t)
    }
  }
  const isBig = (table: string | undefined) => table === undefined || bigTables.some((b) => b.name === table)

  const texts = new Map(migrations.map((m) => [m.name, readFileSync(m.sqlPath, 'utf8')]))
  const inTx = migrations.filter((m) => !runsOutsideTransaction(texts.get(m.name)!))
  const outOfTx = migrations.filter((m) => runsOutsideTransaction(texts.get(m.name)!))
  const violations = [...(await squawk(inTx.map((m) => m.sqlPath), true)), ...(await squawk(outOfTx.map((m) => m.sqlPath), false))]
  const byPath = new Map(migrations.map((m) => [path.resolve(m.sqlPath), m]))

  const findings: LintFinding[] = []
  for (const v of violations) {
    const m = byPath.get(path.resolve(v.file))
    if (!m) continue
    const sql = texts.get(m.name)!
    const line = v.line + 1 // squawk's JSON lines are 0-based
    const stmt = statementAtLine(sql, line)
    const target = stmt ? statementTable(stmt) : undefined
    const table = target?.table.name
    const locking = LOCKING_RULES.has(v.rule_name)
    const level = ALWAYS_ERROR_RULES.has(v.rule_name) || (locking && isBig(table)) ? 'error' : 'warning'
    const fix = FIXES[v.rule_name] ?? v.help ?? undefined
    findings.push({
      migration: m.name,
      file: 'migration.sql',
      line,
      rule: v.rule_name,
      level,
      ...(table ? { table } : {}),
      message: locking && level === 'error' ? `${v.message} (on ${table ? `big table \`${table}\`` : 'a table it cannot name'})` : v.message,
      ...(fix ? { fix } : {}),
    })
  }
  for (const m of migrations) findings.push(...destructiveFindings(m, texts.get(m.name)!), ...ownTimeoutFindings(m, 'migration.sql', texts.get(m.name)!), ...(m.down ? ownTimeoutFindings(m, 'down.sql', m.down) : []))
  findings.sort((a, b) => a.migration.localeCompare(b.migration) || a.line - b.line || a.rule.localeCompare(b.rule))

  const accepted = new Map((baseline?.accepted ?? []).map((e) => [key(e), e]))
  const used = new Set<string>()
  for (const f of findings) {
    const e = accepted.get(key(f))
    if (e) {
      f.acceptedBecause = e.reason
      used.add(key(f))
    }
  }
  const checked = new Set(migrations.map((m) => m.name))
  return {
    squawkVersion: (await runSquawk(['--version'])).stdout.trim().replace(/^squawk\s+/, ''),
    migrations: migrations.map((m) => m.name),
    bigTables,
    database,
    findings,
    errors: findings.filter((f) => f.level === 'error' && !f.acceptedBecause),
    baselinePath,
    staleBaseline: (baseline?.accepted ?? []).filter((e) => checked.has(e.migration) && !used.has(key(e))),
  }
}

/** Whether `migration` is covered by the baseline (applied before the gate). */
export function inBaseline(baseline: Baseline | undefined, migration: string): boolean {
  return baseline !== undefined && migration <= baseline.through
}

/**
 * Adds every unaccepted error of `migration` to the baseline with `reason`, and moves
 * `through` up to it. For history that predates the gate; new migrations should pass.
 */
export function acceptIntoBaseline(result: LintResult, migration: string, reason: string): BaselineEntry[] {
  if (!reason.trim()) throw new MigrateError('BAD_ARGUMENT', '`--reason` is required with `--accept`.', { hint: 'Example: `npm run migrate:lint -- --accept=007_add_database_rules --reason="applied to empty tables before the gate"`' })
  if (!result.migrations.includes(migration)) throw new MigrateError('BAD_ARGUMENT', `No migration named \`${migration}\`.`, { hint: 'Run `npm run migrate:status` to see the migrations' })
  const baseline = readBaseline(result.baselinePath) ?? { through: migration, accepted: [] }
  const added: BaselineEntry[] = result.errors
    .filter((f) => f.migration === migration)
    .map((f) => ({ migration: f.migration, file: f.file, line: f.line, rule: f.rule, ...(f.table ? { table: f.table } : {}), reason: reason.trim() }))
  baseline.accepted.push(...added)
  baseline.accepted.sort((a, b) => a.migration.localeCompare(b.migration) || a.line - b.line || a.rule.localeCompare(b.rule))
  if (migration > baseline.through) baseline.through = migration
  writeFileSync(result.baselinePath, `${JSON.stringify(baseline, null, 2)}\n`)
  return added
}
