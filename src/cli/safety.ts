// What the destructive commands (migrate, rollback, reset) share on the
// command line: the time-out options, the loss report, and asking on a
// terminal.
import { createInterface } from 'node:readline/promises'
import { DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_STATEMENT_TIMEOUT_MS, DEFAULT_LOCK_ATTEMPTS, MigrateError, describeLoss, holdsData, type LossReport, type TimeoutOptions } from '../migrate/index.ts'
import { LossRefused, type LossItem } from '../migrate/loss.ts'
import type { OptionSpec, Values } from './args.ts'
import type { Output } from './output.ts'

export const TIMEOUT_OPTIONS: OptionSpec[] = [
  {
    name: 'lock-timeout',
    type: 'string',
    valueName: '<seconds>',
    description: `Wait at most this long for each table lock (application queries queue behind the wait), then roll back and retry, ${DEFAULT_LOCK_ATTEMPTS} attempts (default ${DEFAULT_LOCK_TIMEOUT_MS / 1000})`,
  },
  { name: 'statement-timeout', type: 'string', valueName: '<seconds>', description: `Stop and roll back a statement running longer than this (default ${DEFAULT_STATEMENT_TIMEOUT_MS / 1000}; 0 = no limit)` },
]

/** PostgreSQL's limit for lock_timeout and statement_timeout (an int of milliseconds). */
const MAX_TIMEOUT_MS = 2_147_483_647

function seconds(values: Values, name: string, allowZero: boolean): number | undefined {
  const raw = values[name]
  if (raw === undefined) return undefined
  const n = Number(raw)
  const example = `Example: \`--${name}=${name === 'lock-timeout' ? 5 : 600}\``
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n) || n < 0 || (n === 0 && !allowZero)) {
    throw new MigrateError('BAD_ARGUMENT', `\`--${name}\` takes a number of seconds${allowZero ? '' : ' above 0'}, got \`${String(raw)}\`.`, { hint: example })
  }
  const ms = Math.round(n * 1000)
  // PostgreSQL counts whole milliseconds, and 0 means no limit: a positive value must not become it.
  if (n > 0 && ms < 1) throw new MigrateError('BAD_ARGUMENT', `\`--${name}=${raw}\` is less than a millisecond, the smallest limit PostgreSQL takes${allowZero ? ' (0 means no limit at all)' : ''}.`, { hint: example })
  if (ms > MAX_TIMEOUT_MS) throw new MigrateError('BAD_ARGUMENT', `\`--${name}=${raw}\` is more than PostgreSQL allows (${MAX_TIMEOUT_MS} ms, about 24.8 days).`, { hint: allowZero ? `${example}; \`--${name}=0\` means no limit` : example })
  return ms
}

/** --lock-timeout / --statement-timeout as library options (validated before connecting). */
export function timeoutOptions(values: Values): TimeoutOptions {
  const lock = seconds(values, 'lock-timeout', false)
  const stmt = seconds(values, 'statement-timeout', true)
  return { ...(lock !== undefined ? { lockTimeoutMs: lock } : {}), ...(stmt !== undefined ? { statementTimeoutMs: stmt } : {}) }
}

/** True when a person can answer a question: both ends are a terminal. */
export function canAsk(): boolean {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY)
}

/** Asks `question [y/N]` on the terminal; only y / yes agrees. */
export async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim())
  } finally {
    rl.close()
  }
}

/** `heading` then indented lines per item (all, or only those that lost data); nothing when there are none. */
export function printLoss(out: Output, heading: string, report: LossReport, which: 'all' | 'data' = 'all'): void {
  const items = which === 'all' ? report.items : report.items.filter(holdsData)
  if (!items.length) return
  out.out(heading)
  for (const item of items) for (const line of describeLoss(item)) out.out(`  ${line}`)
}

/** Rethrows a data-loss refusal with the exact commands that inspect or accept it. */
export function withRefusalHint(err: unknown, dryRun: string, accept: string): unknown {
  if (!(err instanceof MigrateError) || err.code !== 'DATA_LOSS_REFUSED') return err
  return new MigrateError(err.code, err.message, { details: err.details, hint: `See the plan with \`${dryRun}\`; to go ahead and lose this data: \`${accept}\``, cause: err })
}

/**
 * On a terminal: asks about `probe` (when it loses data), then runs with what
 * was confirmed as the ceiling. If the loss grew while the question waited,
 * the command refused and changed nothing; show the new figures and ask
 * again. Undefined when the person said no.
 */
export async function runConfirmed<R>(out: Output, probe: LossReport, question: string, run: (confirmed: LossItem[]) => Promise<R>): Promise<R | undefined> {
  let confirmed = probe.items.filter(holdsData)
  if (confirmed.length && !(await confirm(question))) return undefined
  for (;;) {
    try {
      return await run(confirmed)
    } catch (err) {
      if (!(err instanceof LossRefused) || !err.grew || !canAsk()) throw err
      printLoss(out, 'It now destroys more than you confirmed (data was written while you were asked), nothing was changed:', err.report)
      if (!(await confirm(question))) return undefined
      confirmed = err.report.items.filter(holdsData)
    }
  }
}
