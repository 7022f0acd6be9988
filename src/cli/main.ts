// The single CLI entry point, run as `node bin/watify.mjs <command> [options]` (npm scripts).
// It parses arguments, runs one library call, renders the result and sets
// the exit code. All behaviour lives in src/migrate (library) and src/db.
import { DatabaseUrlError, maskSecrets } from '../db/url.ts'
import { isMigrateError } from '../migrate/errors.ts'
import { parseArgs, UsageError } from './args.ts'
import { makeContext, type Command } from './command.ts'
import { createCommand } from './commands/create.ts'
import { dbConfigCommand, dbStartCommand, dbStopCommand, dbTestCommand } from './commands/db.ts'
import { lintCommand } from './commands/lint.ts'
import { partitionsCommand, retainCommand } from './commands/messages.ts'
import { migrateCommand } from './commands/migrate.ts'
import { resetCommand } from './commands/reset.ts'
import { rollbackCommand } from './commands/rollback.ts'
import { scaleCheckCommand } from './commands/scale.ts'
import { statusCommand } from './commands/status.ts'
import { verifyCommand } from './commands/verify.ts'
import { setupCommand } from './commands/setup.ts'
import { exitCode, exitCodeLines, exitCodeOf } from './exit-codes.ts'
import { createOutput, type Output } from './output.ts'

const COMMANDS: Command[] = [
  setupCommand,
  migrateCommand,
  statusCommand,
  rollbackCommand,
  resetCommand,
  createCommand,
  verifyCommand,
  lintCommand,
  partitionsCommand,
  retainCommand,
  dbTestCommand,
  dbConfigCommand,
  dbStartCommand,
  dbStopCommand,
  scaleCheckCommand,
]
// `migrate:run` is the spec's second name for `migrate`.
const ALIASES: Record<string, string> = { 'migrate:run': 'migrate' }

function pad(rows: Array<[string, string]>): string[] {
  const w = Math.max(...rows.map(([a]) => a.length))
  return rows.map(([a, b]) => `  ${a.padEnd(w)}  ${b}`)
}

function commandHelp(c: Command): string[] {
  const opts: Array<[string, string]> = c.options.map((o) => [`--${o.name}${o.type === 'string' ? `=${o.valueName ?? '<value>'}` : ''}`, o.description])
  opts.push(['-h, --help', 'Show this help'])
  return [
    c.summary,
    '',
    'Usage',
    `  npm run ${c.name}${c.options.length ? ' -- [options]' : ''}`,
    `  node bin/watify.mjs ${c.name}${c.options.length ? ' [options]' : ''}`,
    '',
    'Options',
    ...pad(opts),
    '',
    'Examples',
    ...c.examples.map((e) => `  ${e}`),
    '',
    'Exit codes',
    ...exitCodeLines(c.exitCodes).map((e) => `  ${e}`),
  ]
}

function mainHelp(): string[] {
  return [
    'Database commands of Wateen Watify: migrations with rollback, on the embedded PostgreSQL or any DATABASE_URL.',
    '',
    'Usage',
    '  npm run <command> [-- options]',
    '  node bin/watify.mjs <command> [options]',
    '',
    'Commands',
    ...pad([...COMMANDS.map((c): [string, string] => [c.name, c.summary]), ['migrate:run', 'Same as migrate']]),
    '',
    'Every command takes --help. Migration state lives in Prisma\'s `_prisma_migrations`: `npx prisma migrate status` agrees.',
    '',
    'Exit codes',
    ...exitCodeLines().map((e) => `  ${e}`),
  ]
}

function renderError(out: Output, err: unknown): number {
  if (err instanceof UsageError) {
    out.err(`! ${err.message}`)
    if (err.hint) out.err(`Hint: ${err.hint}`)
    return exitCode('BAD_INPUT')
  }
  if (err instanceof DatabaseUrlError) {
    out.err(`Error: Cannot use DATABASE_URL: ${err.message}`)
    out.err(`Hint: ${err.hint}`)
    return exitCode('BAD_INPUT')
  }
  if (isMigrateError(err)) {
    out.err(`Error: ${err.message}`)
    for (const d of err.details) out.err(d)
    if (err.hint) out.err(`Hint: ${err.hint}`)
    if (process.env.DEBUG && err.cause) out.err(String((err.cause as Error).stack ?? err.cause))
    return exitCodeOf(err.code)
  }
  const e = err as Error
  out.err(`Error: ${e?.message ?? String(err)}`)
  if (process.env.DEBUG && e?.stack) out.err(e.stack)
  return 1
}

async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const out = createOutput(env)
  const [first, ...rest] = argv
  if (!first || first === '--help' || first === '-h' || first === 'help') {
    for (const line of mainHelp()) (first ? out.out : out.err)(line)
    return first ? 0 : 2
  }
  const name = ALIASES[first] ?? first
  const command = COMMANDS.find((c) => c.name === name)
  if (!command) {
    out.err(`! Unknown command \`${first}\``)
    out.err(`Hint: run \`node bin/watify.mjs --help\` for the list`)
    return 2
  }
  try {
    const parsed = parseArgs(rest, {
      command: first,
      scriptNames: command.scriptNames,
      options: command.options,
      allOptionNames: COMMANDS.flatMap((c) => c.options.flatMap((o) => [o.name, ...(o.npmAliases ?? [])])),
      env,
      ...(command.guardsNpm ? { guardsNpm: true } : {}),
    })
    for (const w of parsed.warnings) out.logger.warn(w)
    if (parsed.help) {
      for (const line of commandHelp(command)) out.out(line)
      return 0
    }
    if (parsed.values['migrations-dir'] === '') throw new UsageError('`--migrations-dir` needs a folder.', 'Example: `--migrations-dir=prisma/migrations` (the default when the option is left out)')
    return await command.run(makeContext(parsed, out, env))
  } catch (err) {
    const code = renderError(out, err)
    if (err instanceof UsageError) {
      out.err('')
      for (const line of commandHelp(command)) out.err(line)
    }
    return code
  }
}

// Set exitCode rather than exit(): pending stdout writes to a pipe get flushed.
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    process.stderr.write(`Error: ${maskSecrets(String((err as Error)?.message ?? err))}\n`)
    process.exitCode = 1
  },
)
