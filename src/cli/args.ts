// Argument parsing for every command, including what npm does to flags the
// spec writes without `--`:
//   npm run migrate:rollback --steps=2   -> env npm_config_steps=2, no argv
//   npm run migrate:rollback --to=X      -> npm expands --to to its own
//                                           --token-description: env npm_config_token_description=X
//   npm run migrate:rollback --dry-run   -> env npm_config_dry_run=true
//   npm run migrate:rollback --steps 2   -> env npm_config_steps=true and argv ["2"]
// (measured with npm 11.19). npm hands a script its `.npmrc` settings and
// inherited npm_config_* variables the same way and never says which were typed,
// so nothing here guesses. The rules:
//  - only options marked `fromNpm` (the spec's `--steps`, `--to`, and `--dry-run`,
//    which can only make a command do less) are read from npm_config_*, and only
//    when npm runs THIS command's script; the same option after `--` wins;
//  - options marked `typedOnly` (`--accept-data-loss`, `--force`: what lets a
//    command destroy data without asking) count only after `--` (argv);
//  - every other npm_config_* value is npm's business and is ignored, except that
//    a command that changes the database (`guardsNpm`) refuses, with exit 2, a
//    typo of its own options or another command's option given before `--`
//    (`npm run migrate --dry-run` must not migrate). npm's own settings that
//    people keep in .npmrc (force, json, yes, offline) never count as that.
import { parseArgs as parseArgv } from 'node:util'

export interface OptionSpec {
  /** Long name without dashes, e.g. `steps`. */
  name: string
  type: 'boolean' | 'string'
  /** Shown in help: `--steps=<n>`. */
  valueName?: string
  description: string
  /** Other npm_config_* keys npm turns this flag into (after its own abbreviation expansion). */
  npmAliases?: string[]
  /** May arrive as npm_config_* (typed before `--`, or an npm setting: the two cannot be told apart). */
  fromNpm?: boolean
  /** Counts only when typed after `--`: it lets a command destroy data without asking. */
  typedOnly?: boolean
}

export type Values = Record<string, string | boolean | undefined>

export interface Parsed {
  values: Values
  help: boolean
  /** Options whose value came from npm configuration (flag given before `--`), with the env key. */
  fromNpm: Array<{ option: string; envKey: string; value: string | boolean }>
  /** What the command should print as `Warning:` lines (npm values not taken). */
  warnings: string[]
}

export class UsageError extends Error {
  readonly hint: string | undefined
  constructor(message: string, hint?: string) {
    super(message)
    this.name = 'UsageError'
    this.hint = hint
  }
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)] as number[])
  for (let j = 1; j <= b.length; j++) d[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
  }
  return d[a.length]![b.length]!
}

function suggest(name: string, options: OptionSpec[]): string | undefined {
  let best: { name: string; dist: number } | undefined
  for (const o of options) {
    const dist = levenshtein(name, o.name)
    if (dist <= 2 && (!best || dist < best.dist)) best = { name: o.name, dist }
  }
  return best?.name
}

const envKeyOf = (name: string): string => `npm_config_${name.replace(/-/g, '_')}`

export interface ParseContext {
  command: string
  /** npm script names that run this command (e.g. `migrate` and `migrate:run`). */
  scriptNames: string[]
  options: OptionSpec[]
  /** Option names of all commands, to catch an option given to the wrong command through npm. */
  allOptionNames: string[]
  env: NodeJS.ProcessEnv
  /** The command changes the database: refuse npm values that look meant for it but are not its options. */
  guardsNpm?: boolean
}

export function parseArgs(argv: string[], ctx: ParseContext): Parsed {
  const { options, command } = ctx
  const byName = new Map(options.map((o) => [o.name, o]))
  const values: Values = {}
  let help = false
  const helpHint = `Run \`npm run ${command} -- --help\` for usage`

  const lifecycle = ctx.env.npm_lifecycle_event
  const underNpm = Boolean(lifecycle && ctx.scriptNames.includes(lifecycle))
  const warnings: string[] = []
  if (underNpm) {
    // `--steps 2` reaches us as npm_config_steps=true plus a bare `2`: say so before the bare `2` confuses.
    for (const spec of options) {
      if (spec.fromNpm && spec.type === 'string' && ctx.env[envKeyOf(spec.name)] === 'true') {
        throw new UsageError(`\`--${spec.name}\` reached this command without its value (npm splits \`--${spec.name} value\`).`, `Write it with \`=\` after \`--\`: \`npm run ${command} -- --${spec.name}=${spec.valueName ?? 'value'}\``)
      }
    }
  }

  // The command line itself: node's parseArgs tokenizes, the checks and messages are ours.
  const { tokens } = parseArgv({
    args: argv,
    options: { ...Object.fromEntries(options.map((o) => [o.name, { type: o.type }])), help: { type: 'boolean', short: 'h' } },
    strict: false,
    allowPositionals: true,
    tokens: true,
  })
  for (const token of tokens) {
    if (token.kind !== 'option') {
      const arg = token.kind === 'positional' ? token.value : '--'
      throw new UsageError(`Unexpected argument \`${arg}\`.`, /^\d+$/.test(arg) && byName.has('steps') ? `Write the value with \`=\`: \`npm run ${command} -- --steps=${arg}\`` : helpHint)
    }
    if (token.name === 'help' && !byName.has('help')) {
      help = true
      continue
    }
    const { name, rawName } = token
    if (!rawName.startsWith('--')) throw new UsageError(`Unexpected argument \`${rawName}\`.`, helpHint)
    const spec = byName.get(name)
    if (!spec) {
      const close = suggest(name, options)
      throw new UsageError(`Unknown option \`--${name}\` for \`${command}\`.`, close ? `Did you mean \`--${close}\`? ${helpHint}` : helpHint)
    }
    let value: string | boolean
    if (spec.type === 'boolean') {
      if (token.value !== undefined) {
        if (!/^(true|false)$/.test(token.value)) throw new UsageError(`\`--${name}\` takes no value, got \`${token.value}\`.`, `Write just \`--${name}\``)
        value = token.value === 'true'
      } else value = true
    } else {
      // parseArgs would take a following option as the value; we do not.
      if (token.value === undefined || (!token.inlineValue && token.value.startsWith('--'))) throw new UsageError(`\`--${name}\` needs a value.`, `Example: \`--${name}=${spec.valueName ?? 'value'}\``)
      value = token.value
    }
    if (values[name] !== undefined && values[name] !== value) throw new UsageError(`\`--${name}\` was given twice with different values.`, 'Give it once')
    values[name] = value
  }

  const fromNpm: Parsed['fromNpm'] = []
  if (underNpm) {
    for (const spec of options) {
      const keys = [envKeyOf(spec.name), ...(spec.npmAliases ?? []).map(envKeyOf)]
      for (const key of keys) {
        const raw = ctx.env[key]
        if (raw === undefined || raw === '' || raw === 'false') continue
        const shown = spec.type === 'boolean' ? `--${spec.name}` : `--${spec.name}=${raw}`
        if (spec.typedOnly) {
          if (values[spec.name] === undefined) warnings.push(`\`${shown}\` before \`--\` (or an npm setting \`${key.slice('npm_config_'.length)}\`) does not count: it lets the command destroy data without asking, so it must be typed after \`--\`: \`npm run ${command} -- ${shown}\``)
          continue
        }
        if (!spec.fromNpm) continue
        let value: string | boolean
        if (spec.type === 'boolean') value = true
        else {
          // `--steps 2` (no `=`) reaches us as npm_config_steps=true plus a bare `2` (refused above).
          if (raw === 'true') continue
          value = raw
        }
        const prior = values[spec.name]
        if (prior !== undefined) {
          if (prior !== value && !fromNpm.some((f) => f.option === spec.name)) warnings.push(`Ignoring \`${formatValue(spec.name, value)}\` passed by npm as ${key} (typed before \`--\`, or an npm setting); \`${formatValue(spec.name, prior)}\` after \`--\` wins.`)
          continue
        }
        fromNpm.push({ option: spec.name, envKey: key, value })
        values[spec.name] = value
      }
    }
    if (ctx.guardsNpm) {
      // Flags typed before `--` that are not ours arrive as npm configuration too. Refuse the
      // ones plainly meant for us (a typo of one of our options, or an option of another
      // command); npm's own settings, which users keep in .npmrc, are never taken as that.
      const ours = new Set(options.flatMap((o) => [o.name, ...(o.npmAliases ?? [])].map((n) => n.replace(/-/g, '_'))))
      const everyOption = new Set(ctx.allOptionNames.map((n) => n.replace(/-/g, '_')))
      const npmOwn = new Set(['force', 'json', 'yes', 'offline'])
      for (const [key, raw] of Object.entries(ctx.env)) {
        if (!key.startsWith('npm_config_') || raw === undefined || raw === '') continue
        const name = key.slice('npm_config_'.length)
        if (ours.has(name) || npmOwn.has(name)) continue
        const flag = `--${name.replace(/_/g, '-')}`
        const close = name.length >= 4 ? suggest(name.replace(/_/g, '-'), options.filter((o) => o.name.length >= 4)) : undefined
        if (everyOption.has(name)) throw new UsageError(`\`${flag}\` is not an option of \`${command}\` (passed by npm as ${key}).`, helpHint)
        if (close) throw new UsageError(`Unknown option \`${flag}\` for \`${command}\` (passed by npm as ${key}).`, `Did you mean \`--${close}\`? ${helpHint}`)
      }
    }
  }
  return { values, help, fromNpm, warnings }
}

export function formatValue(name: string, value: string | boolean): string {
  return value === true ? `--${name}` : `--${name}=${value}`
}
