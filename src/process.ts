// The one way the project runs a child process and collects what it prints:
// the migration library (seed, create), the embedded server, the bench and
// the tests all go through here.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'

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
