// The schema-engine stand-in's entry point. The Prisma CLI spawns it as
//   schema-engine [--datamodels <path>]... [--datasource <json>] [--enabled-preview-features a,b] [--extension-types <json>]
// and speaks newline-delimited JSON-RPC 2.0 on stdin/stdout, one request at a
// time; or as `schema-engine --datasource <json> cli <command>`; or `--version`.
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'

import { takeEngineSecrets, withSecrets } from './secrets.ts'
import { runSubcommand } from './subcommands.ts'
import type { RpcReply } from './rpc.ts'
import { panicRegistry } from './wasm.ts'

// stdout carries JSON-RPC only: anything a library logs goes to stderr.
console.log = console.info = console.debug = (...args: unknown[]) => console.error(...args)
// The Prisma CLI reads every stderr line as a JSON log record: Node's own warnings
// (TLS settings, deprecations), printed as plain text, would break its parsing
// (`Could not parse schema engine response`). They go out as WARN records instead.
process.removeAllListeners('warning')
process.on('warning', (warning) => {
  process.stderr.write(JSON.stringify({ level: 'WARN', fields: { message: `${warning.name}: ${warning.message}` }, target: 'watify::engine' }) + '\n')
})

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

// prisma.config.ts hands the Prisma CLI URLs without their passwords (the CLI
// puts the datasource in our argument list, where `ps` shows it) and passes the
// passwords in the environment; they are put back here, in memory only.
const secrets = takeEngineSecrets(process.env)
const datasource = withSecrets(values.datasource ? (JSON.parse(String(values.datasource)) as { url?: string; shadowDatabaseUrl?: string }) : {}, secrets)

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
server = await createRpcServer({ datamodels, datasource, secrets })

const out = (msg: unknown) => process.stdout.write(JSON.stringify(msg) + '\n')
// Our requests to the CLI, by id: answers may come in any order, and an error answer rejects.
const pending = new Map<number | string, { resolve(result: unknown): void; reject(error: Error): void }>()
let queue = Promise.resolve()
let nextId = 1_000_000

/** Sends a request to the CLI (only `print`) and waits for its answer. */
function requestCli(method: string, params: unknown): Promise<unknown> {
  const id = nextId++
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject })
    out({ jsonrpc: '2.0', id, method, params })
  })
}

type Message = { id?: number | string | null; method?: string; params?: unknown; result?: unknown; error?: { code?: number; message?: string } }

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', (line) => {
  if (!line.trim()) return
  let msg: Message
  try {
    msg = JSON.parse(line)
  } catch {
    out({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } })
    return
  }
  if (msg.method === undefined) {
    const waiter = msg.id === undefined || msg.id === null ? undefined : pending.get(msg.id)
    if (!waiter) {
      process.stderr.write(JSON.stringify({ level: 'WARN', fields: { message: `Answer for unknown request id ${JSON.stringify(msg.id)}` }, target: 'watify::engine' }) + '\n')
      return
    }
    pending.delete(msg.id!)
    if (msg.error) waiter.reject(Object.assign(new Error(msg.error.message ?? 'The CLI answered with an error'), { rpcCode: msg.error.code }))
    else waiter.resolve(msg.result)
    return
  }
  const { id, method, params } = msg
  // one request at a time, in order, as the native engine does
  queue = queue.then(async () => {
    let reply: RpcReply
    try {
      reply = await server!.handle(method, params, requestCli)
    } catch (error) {
      // handle() turns every failure into an error reply; this is the last resort, so one bad request never takes the engine down.
      reply = { error: { code: -32603, message: 'Internal error', data: { is_panic: false, message: String((error as Error)?.message ?? error) } } }
    }
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
