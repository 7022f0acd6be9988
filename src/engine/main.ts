// The schema-engine stand-in's entry point. The Prisma CLI spawns it as
//   schema-engine [--datamodels <path>]... [--datasource <json>] [--enabled-preview-features a,b] [--extension-types <json>]
// and speaks newline-delimited JSON-RPC 2.0 on stdin/stdout, one request at a
// time; or as `schema-engine --datasource <json> cli <command>`; or `--version`.
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'

import { runSubcommand } from './subcommands.ts'
import { panicRegistry } from './wasm.ts'

// stdout carries JSON-RPC only: anything a library logs goes to stderr.
console.log = console.info = console.debug = (...args: unknown[]) => console.error(...args)

let server: Awaited<ReturnType<typeof import('./rpc.ts').createRpcServer>> | undefined

// A crash must reach the CLI as an engine error (exit 1), never as silence.
// A Rust panic inside the Wasm engine traps (`unreachable`); its message was
// handed to the panic registry just before.
// Shadow databases made so far are dropped first (at most 5 s).
process.on('uncaughtException', (error) => {
  const message = panicRegistry.message ? `${panicRegistry.message}\n${error?.stack ?? error}` : String(error?.stack ?? error)
  process.stderr.write(JSON.stringify({ level: 'ERROR', fields: { message }, target: 'schema_engine::logger' }) + '\n')
  const exit = () => process.exit(panicRegistry.message ? 101 : 1)
  setTimeout(exit, 5000).unref()
  void (server?.close() ?? Promise.resolve()).finally(exit)
})

const { values, positionals } = parseArgs({
  options: {
    datamodels: { type: 'string', multiple: true, short: 'd' },
    datasource: { type: 'string' },
    'enabled-preview-features': { type: 'string' },
    'extension-types': { type: 'string' },
    version: { type: 'boolean', short: 'V' },
  },
  allowPositionals: true,
  strict: false,
})

const datasource = values.datasource ? (JSON.parse(String(values.datasource)) as { url?: string; shadowDatabaseUrl?: string }) : {}

if (values.version) {
  const { loadWasmEngine } = await import('./wasm.ts')
  const engine = await loadWasmEngine()
  process.stdout.write(`schema-engine-cli ${engine.version()} (wasm)\n`)
  process.exit(0)
}

if (positionals[0] === 'cli') {
  process.exit(await runSubcommand(String(positionals[1] ?? ''), datasource.url))
}

const datamodels = ((values.datamodels as string[] | undefined) ?? []).map((path): [string, string] => [path, readFileSync(path, 'utf8')])

const { createRpcServer } = await import('./rpc.ts')
server = await createRpcServer({ datamodels, datasource })

const pending: Array<(line: unknown) => void> = []
const out = (msg: unknown) => process.stdout.write(JSON.stringify(msg) + '\n')
let queue = Promise.resolve()
let nextId = 1_000_000

/** Sends a request to the CLI (only `print`) and waits for its answer. */
function requestCli(method: string, params: unknown): Promise<unknown> {
  return new Promise((resolve) => {
    pending.push(resolve)
    out({ jsonrpc: '2.0', id: nextId++, method, params })
  })
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', (line) => {
  if (!line.trim()) return
  let msg: { id?: number | string; method?: string; params?: unknown; result?: unknown }
  try {
    msg = JSON.parse(line)
  } catch {
    out({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } })
    return
  }
  if (msg.method === undefined) {
    pending.shift()?.(msg.result)
    return
  }
  const { id, method, params } = msg
  // one request at a time, in order, as the native engine does
  queue = queue.then(async () => {
    const reply = await server!.handle(method, params, requestCli)
    out({ jsonrpc: '2.0', id, ...reply })
  })
})

let closing = false
async function shutdown(code: number) {
  if (closing) return
  closing = true
  await queue.catch(() => {})
  await server?.close()
  process.exit(code)
}
rl.on('close', () => void shutdown(0))
process.on('SIGTERM', () => void shutdown(0))
process.on('SIGINT', () => void shutdown(130))
