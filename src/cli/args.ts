// Argument parsing for every command, including what npm does to flags the
// spec writes without `--`:
//   npm run migrate:rollback --steps=2   -> env npm_config_steps=2, no argv
//   npm run migrate:rollback --to=X      -> npm expands --to to its own
//                                           --token-description: env npm_config_token_description=X
//   npm run migrate:rollback --dry-run   -> env npm_config_dry_run=true
//   npm run migrate:rollback --steps 2   -> env npm_config_steps=true and argv ["2"]
// (measured with npm 11.19). Values arriving that way are honoured only when
// npm is running THIS command's script (npm_lifecycle_event), and a value that
// disagrees with the same option after `--` is an error, never a silent pick.

import { npmConfigOrigin } from './npm-origin.ts'
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
}

export type Values = Record<string, string | boolean | undefined>

export interface Parsed {
  values: Values
  help: boolean
  /** Options whose value came from npm configuration (flag given before `--`), with the env key. */
  fromNpm: Array<{ option: string; envKey: string; value: string | boolean }>
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
  /** Where an npm_config_* value came from when it was not typed (default: npmConfigOrigin). */
  npmOrigin?: (envKey: string, value: string, env: NodeJS.ProcessEnv) => string | undefined
}

export function parseArgs(argv: string[], ctx: ParseContext): Parsed {
  const { options, command } = ctx
  const byName = new Map(options.map((o) => [o.name, o]))
  const values: Values = {}
  let help = false
  const helpHint = `Run \`npm run ${command} -- --help\` for usage`

  const origin = ctx.npmOrigin ?? npmConfigOrigin
  const lifecycle = ctx.env.npm_lifecycle_event
  const underNpm = Boolean(lifecycle && ctx.scriptNames.includes(lifecycle))
  if (underNpm) {
    // `--steps 2` reaches us as npm_config_steps=true plus a bare `2`: say so before the bare `2` confuses.
    for (const spec of options) {
      if (spec.type === 'string' && ctx.env[envKeyOf(spec.name)] === 'true') {
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
      for (const key of [envKeyOf(spec.name), ...(spec.npmAliases ?? []).map(envKeyOf)]) {
        const raw = ctx.env[key]
        if (raw === undefined || raw === '') continue
        const source = origin(key, raw, ctx.env)
        if (source) {
          // Only the command line states intent: a configured value never steers these commands.
          if (values[spec.name] !== undefined || (spec.type === 'boolean' && raw === 'false')) continue
          const shown = spec.type === 'boolean' ? `--${spec.name}` : `--${spec.name}=${raw}`
          throw new UsageError(
            `\`${shown}\` reached \`${command}\` from ${source}, not from the command line; npm settings never steer database commands.`,
            `Remove \`${key.slice('npm_config_'.length).replace(/_/g, '-')}\` from there; to use it, type it: \`npm run ${command} -- ${shown}\``,
          )
        }
        let value: string | boolean
        if (spec.type === 'boolean') {
          if (raw === 'false') continue
          value = true
        } else {
          // `--steps 2` (no `=`) reaches us as npm_config_steps=true plus a bare `2`.
          if (raw === 'true') throw new UsageError(`\`--${spec.name}\` reached this command without its value (npm splits \`--${spec.name} value\`).`, `Write it with \`=\` after \`--\`: \`npm run ${command} -- --${spec.name}=${spec.valueName ?? 'value'}\``)
          value = raw
        }
        const prior = values[spec.name]
        if (prior !== undefined && prior !== value) {
          const was = fromNpm.find((f) => f.option === spec.name)
          throw new UsageError(
            `Conflicting values for \`--${spec.name}\`: \`${formatValue(spec.name, prior)}\` ${was ? `(npm ${was.envKey})` : '(after --)'} and \`${formatValue(spec.name, value)}\` (given before \`--\`, passed by npm as ${key}).`,
            `Give it once, after \`--\`: \`npm run ${command} -- ${formatValue(spec.name, value)}\``,
          )
        }
        if (prior === undefined) fromNpm.push({ option: spec.name, envKey: key, value })
        values[spec.name] = value
      }
    }
    // Flags typed before `--` that are not ours arrive as npm configuration too.
    // Catch the ones that are obviously meant for us (a typo of one of our
    // options, or an option of another command); other npm settings pass.
    const ours = new Set(options.flatMap((o) => [o.name, ...(o.npmAliases ?? [])].map((n) => n.replace(/-/g, '_'))))
    const everyOption = new Set(ctx.allOptionNames.map((n) => n.replace(/-/g, '_')))
    // npm's own settings, which users keep in .npmrc; not ours unless the command has them.
    const npmOwn = new Set(['force', 'json', 'yes'])
    for (const [key, raw] of Object.entries(ctx.env)) {
      if (!key.startsWith('npm_config_') || raw === undefined || raw === '') continue
      const name = key.slice('npm_config_'.length)
      if (ours.has(name) || npmOwn.has(name)) continue
      const flag = `--${name.replace(/_/g, '-')}`
      const close = name.length >= 4 ? suggest(name.replace(/_/g, '-'), options.filter((o) => o.name.length >= 4)) : undefined
      if (!everyOption.has(name) && !close) continue
      // Settings from .npmrc files or the environment are npm's business, not a mistyped flag.
      if (origin(key, raw, ctx.env)) continue
      if (everyOption.has(name)) throw new UsageError(`\`${flag}\` is not an option of \`${command}\`.`, helpHint)
      throw new UsageError(`Unknown option \`${flag}\` for \`${command}\` (passed by npm as ${key}).`, `Did you mean \`--${close}\`? ${helpHint}`)
    }
  }
  return { values, help, fromNpm }
}

export function formatValue(name: string, value: string | boolean): string {
  return value === true ? `--${name}` : `--${name}=${value}`
}
