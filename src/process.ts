// The one way the project runs a child process and collects what it prints:
// every spawn in src/ and bin/ (seed, prisma migrate diff, prisma generate,
// squawk, the embedded server's pg_ctl/initdb) goes through here; so do the
// bench and the tests. No shell, output collected, a non-zero exit is a result.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process'

export interface ProcessResult {
  /** The exit code, or null when a signal ended the child (then `signal` says which). */
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** stdout and stderr interleaved in arrival order. */
  output: string
}

export interface CollectOptions {
  /** Called with each complete line (without its newline) as it arrives. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void
  /** Kills the child (SIGKILL) after this long. */
  timeoutMs?: number
}

export interface RunOptions extends CollectOptions, Pick<SpawnOptions, 'cwd' | 'env' | 'uid' | 'gid'> {
  /** Written to the child's stdin, which is then closed; without it stdin is ignored. */
  input?: string
}

/** Collects the output of a child spawned with piped stdout/stderr until it closes. Rejects only when it cannot start. */
export function collectProcess(child: ChildProcess, opts: CollectOptions = {}): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const text = { stdout: '', stderr: '' }
    let output = ''
    for (const stream of ['stdout', 'stderr'] as const) {
      const source = child[stream]
      if (!source) continue
      let partial = ''
      source.setEncoding('utf8')
      source.on('data', (chunk: string) => {
        text[stream] += chunk
        output += chunk
        if (!opts.onLine) return
        partial += chunk
        let nl: number
        while ((nl = partial.indexOf('\n')) >= 0) {
          opts.onLine(partial.slice(0, nl), stream)
          partial = partial.slice(nl + 1)
        }
      })
      source.on('end', () => {
        if (partial) opts.onLine?.(partial, stream)
      })
    }
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs)
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout: text.stdout, stderr: text.stderr, output })
    })
  })
}

/** Runs `file args` (no shell) and collects its output; a non-zero exit is a result, not an error. */
export function runProcess(file: string, args: readonly string[], opts: RunOptions = {}): Promise<ProcessResult> {
  const { input, onLine, timeoutMs, ...spawnOpts } = opts
  const child = spawn(file, args, { ...spawnOpts, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
  const done = collectProcess(child, { ...(onLine ? { onLine } : {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}) }).catch((err: Error) => {
    throw new Error(`Cannot run ${file}: ${err.message}`, { cause: err })
  })
  if (input !== undefined) child.stdin?.end(input)
  return done
}

/**
 * runProcess, synchronously: for the one caller that cannot wait (prisma.config.ts
 * regenerates the client from an exit handler). `inheritOutput` sends the child's
 * stdout and stderr to our stderr instead of collecting them.
 */
export function runProcessSync(file: string, args: readonly string[], opts: Pick<SpawnOptions, 'cwd' | 'env'> & { inheritOutput?: boolean; timeoutMs?: number } = {}): ProcessResult {
  const { inheritOutput, timeoutMs, ...spawnOpts } = opts
  const r = spawnSync(file, args, { ...spawnOpts, stdio: inheritOutput ? ['ignore', 2, 2] : ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...(timeoutMs !== undefined ? { timeout: timeoutMs, killSignal: 'SIGKILL' } : {}) })
  if (r.error && r.status === null && r.signal === null) throw new Error(`Cannot run ${file}: ${r.error.message}`, { cause: r.error })
  const stdout = r.stdout ?? ''
  const stderr = r.stderr ?? ''
  return { code: r.status, signal: r.signal, stdout, stderr, output: stdout + stderr }
}
