// Everything the CLI writes goes through here: passwords masked on every
// line (also in errors passed on from the driver or child processes), colour
// only on a terminal and never with NO_COLOR, and nothing but silence when
// the reader of a pipe goes away (`npm run -s db:config | head -1`).
import { maskSecrets } from '../db/config.ts'
import type { Logger } from '../migrate/logger.ts'

export interface Output {
  out(line?: string): void
  err(line?: string): void
  /** Adds a secret (the resolved password) that must never appear in output. */
  addSecret(secret: string): void
  color: boolean
  paint: Paint
  logger: Logger
}

export type Paint = Record<'red' | 'green' | 'yellow' | 'dim' | 'bold', (s: string) => string>

export function makePaint(enabled: boolean): Paint {
  const wrap = (open: number, close: number) => (s: string) => (enabled ? `\x1b[${open}m${s}\x1b[${close}m` : s)
  return { red: wrap(31, 39), green: wrap(32, 39), yellow: wrap(33, 39), dim: wrap(2, 22), bold: wrap(1, 22) }
}

export function colorWanted(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv): boolean {
  // https://no-color.org: any non-empty NO_COLOR disables colour.
  return Boolean(stream.isTTY) && !env.NO_COLOR && env.TERM !== 'dumb'
}

/**
 * When the reader closes the pipe, further writes fail with EPIPE; without a
 * listener that is an uncaught exception and a stack trace. Stop writing
 * instead and let the command finish its work (a migration half-way must
 * still commit or roll back), so it ends with its own exit code.
 */
const guarded = new WeakSet<NodeJS.WriteStream>()

export function quietOnClosedPipe(...streams: NodeJS.WriteStream[]): void {
  for (const stream of streams) {
    if (guarded.has(stream)) continue
    guarded.add(stream)
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') {
        stream.write = () => true
        return
      }
      throw err
    })
  }
}

export function createOutput(env: NodeJS.ProcessEnv = process.env): Output {
  quietOnClosedPipe(process.stdout, process.stderr)
  const secrets: string[] = []
  const outColor = colorWanted(process.stdout, env)
  const errColor = colorWanted(process.stderr, env)
  const paintOut = makePaint(outColor)
  const paintErr = makePaint(errColor)
  const mask = (s: string): string => maskSecrets(s, secrets)
  // Colour the leading word of parallel progress lines (`Applied:`, `Error:`).
  const colorLine = (line: string, p: Paint): string =>
    line
      .replace(/^(Applied:|Rolled back:|Verified:|Created:|Started:|Stopped:|Up to date:|Done:|Seeded:)/, (m) => p.green(m))
      .replace(/^(Applying:|Rolling back:|Would roll back:|Dropped:|Waiting:)/, (m) => p.bold(m))
      .replace(/^(Error:|!|Problem:)/, (m) => p.red(m))
      .replace(/^(Warning:)/, (m) => p.yellow(m))
      .replace(/^(Hint:)/, (m) => p.dim(m))
  const o: Output = {
    color: outColor,
    paint: paintOut,
    out: (line = '') => void process.stdout.write(`${colorLine(mask(line), paintOut)}\n`),
    err: (line = '') => void process.stderr.write(`${colorLine(mask(line), paintErr)}\n`),
    addSecret: (s) => void (s && secrets.push(s)),
    logger: {
      info: (line) => o.out(line),
      warn: (line) => o.err(`Warning: ${line}`),
    },
  }
  return o
}
