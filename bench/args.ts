// `npm run bench` options (node:util parseArgs; npm's own `--scale=...` before `--`
// arrives as npm_config_scale and is read too).
import { parseArgs } from 'node:util'

export interface BenchOptions {
  scale: number
  iterations: number
  /** Seconds per concurrent run (webhook storm, sender queue). */
  duration: number
  explain: boolean
  skipMigrations: boolean
  /** The database the bench drops and recreates (default watify_bench). */
  database: string
  /** Run one scenario alone: `replica` (k, on its own primary + standby) or `coalesce` (l, no dataset); absent: everything. */
  only?: 'replica' | 'coalesce'
}

export function usage(): string {
  return [
    'Usage: npm run bench [-- --scale=<n>] [--iterations=<n>] [--duration=<s>] [--database=<name>] [--explain] [--skip-migrations] [--only=replica|coalesce]',
    '',
    'Options:',
    '  --scale=<n>          dataset size relative to 200k subscribers / 50 campaigns / 1M messages (default 1)',
    '  --iterations=<n>     measured calls per latency operation, after 20 warm-up calls (default 200)',
    '  --duration=<s>       seconds per concurrent run (webhooks at 1/8/32 sessions, sender claims; default 3)',
    '  --database=<name>    the database the bench drops and recreates on the server (default watify_bench)',
    '  --explain            print and check the plans of c-f at any scale (always done at scale >= 1)',
    '  --skip-migrations    skip g (migration command timings)',
    '  --only=replica       run only k (read replicas: its own primary + streaming standby, a small dataset)',
    '  --only=coalesce      run only l (webhooks that batch themselves), on a migrated database without the dataset',
  ].join('\n')
}

/** Thrown for bad arguments: the message names the fix; exit code 2. */
export class BenchArgsError extends Error {}

function numberOption(name: string, text: string, ok: (n: number) => boolean, rule: string): number {
  const n = Number(text)
  if (text.trim() === '' || !ok(n)) throw new BenchArgsError(`--${name} must be ${rule}, got \`${text}\``)
  return n
}

/** Parses argv (and npm_config_* from `npm run bench --scale=...`); returns null for --help. */
export function parseBenchArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchOptions | null {
  let values
  try {
    ;({ values } = parseArgs({
      args: [...argv],
      options: {
        scale: { type: 'string' },
        iterations: { type: 'string' },
        duration: { type: 'string' },
        database: { type: 'string' },
        explain: { type: 'boolean' },
        'skip-migrations': { type: 'boolean' },
        only: { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
    }))
  } catch (err) {
    throw new BenchArgsError((err as Error).message)
  }
  if (values.help) return null
  const database = values.database ?? 'watify_bench'
  if (values.only !== undefined && values.only !== 'replica' && values.only !== 'coalesce') throw new BenchArgsError(`--only takes \`replica\` or \`coalesce\` (one scenario alone), got \`${values.only}\``)
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(database)) throw new BenchArgsError(`--database must be a lowercase PostgreSQL name (letters, digits, _), got \`${database}\``)
  return {
    database,
    scale: numberOption('scale', values.scale ?? env.npm_config_scale ?? '1', (n) => Number.isFinite(n) && n > 0 && n <= 20, 'a number above 0 and at most 20'),
    iterations: numberOption('iterations', values.iterations ?? env.npm_config_iterations ?? '200', (n) => Number.isInteger(n) && n >= 10 && n <= 100_000, 'a whole number from 10 to 100000'),
    duration: numberOption('duration', values.duration ?? env.npm_config_duration ?? '3', (n) => Number.isFinite(n) && n >= 0.5 && n <= 600, 'a number of seconds from 0.5 to 600'),
    explain: values.explain === true,
    skipMigrations: values['skip-migrations'] === true,
    ...(values.only === 'replica' || values.only === 'coalesce' ? { only: values.only } : {}),
  }
}
