// JSON-RPC methods of the native schema engine, served by the Wasm engine.
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils'

import { positionToIndex, splitStatements } from '../sql/split.ts'
import { assertSchemaTarget, createEngineAdapter } from './adapter.ts'
import { userFacingError, type UserFacingError } from './errors.ts'
import { restorePassword, type EngineSecrets } from './secrets.ts'
import { createDatabase } from './subcommands.ts'
import { loadWasmEngine, panicRegistry, type SchemaEngineWasm } from './wasm.ts'

export interface RpcReply {
  result?: unknown
  error?: { code: number; message: string; data: UserFacingError & { is_panic: boolean } }
}

type RequestCli = (method: string, params: unknown) => Promise<unknown>

// Requests that change the main database or take the migration lock: refused, as
// our commands refuse them, through a pooler or on a standby.
const SCHEMA_CHANGES = new Set(['applyMigrations', 'createMigration', 'devDiagnostic', 'markMigrationApplied', 'markMigrationRolledBack', 'reset', 'schemaPush', 'dbExecute'])
// Reading the history (`migrate status`): refused on a standby, as `migrate:status` is.
const HISTORY_READS = new Set(['diagnoseMigrationHistory'])

interface Options {
  datamodels: [string, string][]
  datasource: { url?: string; shadowDatabaseUrl?: string }
  secrets?: EngineSecrets
}

export async function createRpcServer({ datamodels, datasource, secrets = new Map() }: Options) {
  const wasm = await loadWasmEngine()
  const adapter = createEngineAdapter(datasource)
  const bound = bindMigrationAwareSqlAdapterFactory(adapter.factory)
  const log = (line: string) => {
    // the engine's tracing lines are JSON already; the CLI parses stderr lines
    process.stderr.write(line.endsWith('\n') ? line : line + '\n')
  }
  let engine: SchemaEngineWasm | undefined
  let diagnosed = false
  async function getEngine(): Promise<SchemaEngineWasm> {
    engine ??= await wasm.SchemaEngine.new({ datamodels: datamodels.length ? datamodels : undefined }, log, bound)
    return engine
  }

  function toReply(error: unknown): RpcReply {
    const original = error as { cause?: unknown; code?: unknown; message?: string; name?: string; meta?: Record<string, unknown> }
    let uf: UserFacingError
    if (error instanceof WebAssembly.RuntimeError || (error as Error)?.name === 'RuntimeError') {
      uf = { message: `Error in Schema engine (wasm panic): ${panicRegistry.message || (error as Error).message}`, is_panic: true }
    } else if (typeof original?.code === 'string' && /^P\d{4}$/.test(original.code)) {
      uf = { error_code: original.code, message: original.message ?? '', meta: original.meta }
    } else {
      const cause = (original as { cause?: { originalCode?: string; originalMessage?: string; kind?: string } }).cause
      uf = userFacingError(cause?.originalCode ? { code: cause.originalCode, message: cause.originalMessage } : original, datasource.url)
    }
    return { error: { code: 4466, message: 'An error happened. Check the data field for details.', data: { is_panic: !!uf.is_panic, ...uf } } }
  }

  /** P3018 as the native engine reports a failed migration, with the failing statement. */
  async function migrationFailed(error: unknown, input: unknown): Promise<RpcReply | undefined> {
    const scriptError = adapter.lastScriptError()
    if (!scriptError) return undefined
    const dirs = (input as { migrationsList?: { migrationDirectories?: { path: string; migrationFile: { content: { tag: string; value: string } } }[] } })
      ?.migrationsList?.migrationDirectories ?? []
    const failed = dirs.find((d) => d.migrationFile.content.tag === 'ok' && d.migrationFile.content.value === scriptError.script)
    if (!failed) return undefined
    const pgError = scriptError.error
    const statement = statementAt(scriptError.script, Number(pgError.position ?? 0))
    const databaseError = `ERROR: ${pgError.message}${statement ? `\n\nStatement:\n${statement}` : ''}`
    const reply = toReply(error)
    reply.error!.data = {
      is_panic: false,
      error_code: 'P3018',
      message:
        'A migration failed to apply. New migrations cannot be applied before the error is recovered from. Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve\n\n' +
        `Migration name: ${failed.path}\n\nDatabase error code: ${pgError.code ?? ''}\n\nDatabase error:\n${databaseError}\n`,
      meta: { migration_name: failed.path, database_error_code: pgError.code ?? '', database_error: databaseError },
    }
    return reply
  }

  async function call(method: string, params: any, requestCli: RequestCli): Promise<unknown> {
    if (datasource.url && (SCHEMA_CHANGES.has(method) || HISTORY_READS.has(method))) {
      // `db execute` names its own target when it has one.
      const url = method === 'dbExecute' && params?.datasourceType?.tag === 'url' ? restorePassword(params.datasourceType.url, secrets) : datasource.url
      if (url) await assertSchemaTarget(url, { direct: SCHEMA_CHANGES.has(method) })
    }
    switch (method) {
      case 'createDatabase': {
        const url = restorePassword(params?.datasource?.url, secrets) ?? datasource.url
        if (!url) throw Object.assign(new Error('The datasource has no URL.'), { code: 'P1012' })
        return { databaseName: await createDatabase(url) }
      }
      case 'getDatabaseVersion':
        return (await getEngine()).version(params ?? undefined)
      case 'introspect':
        return (await getEngine()).introspect({ ...params, namespaces: params?.namespaces ?? null })
      case 'diff': {
        // The Wasm engine returns the text; the native one sends it to the CLI
        // as a `print` request, which is what `migrate diff --output` captures.
        const { stdout, ...rest } = (await (await getEngine()).diff(params)) as { stdout?: string | null; exitCode: number }
        if (stdout) await requestCli('print', { content: stdout.replace(/\n$/, '') })
        return rest
      }
      case 'evaluateDataLoss':
      case 'createMigration': {
        const e = await getEngine()
        // The Wasm engine prepares its shadow database only inside devDiagnostic;
        // the CLI runs that first, a caller that skips it gets it run here.
        if (!diagnosed) await e.devDiagnostic({ migrationsList: params.migrationsList, filters: params.filters })
        return await (e[method] as (p: unknown) => Promise<unknown>)(params)
      }
      case 'devDiagnostic': {
        const result = await (await getEngine()).devDiagnostic(params)
        diagnosed = true
        return result ?? {}
      }
      case 'applyMigrations':
      case 'dbExecute':
      case 'diagnoseMigrationHistory':
      case 'ensureConnectionValidity':
      case 'markMigrationApplied':
      case 'markMigrationRolledBack':
      case 'reset':
      case 'schemaPush':
      case 'introspectSql': {
        const e = await getEngine()
        return (await (e[method] as (p: unknown) => Promise<unknown>)(params)) ?? {}
      }
      case 'debugPanic':
        throw new WebAssembly.RuntimeError('debugPanic called')
      default:
        throw new Error(`Method \`${method}\` is not supported by the Wasm schema engine stand-in.`)
    }
  }

  return {
    async handle(method: string, params: unknown, requestCli: RequestCli): Promise<RpcReply> {
      // A script error belongs to the request it happened in.
      adapter.resetScriptError()
      try {
        return { result: (await call(method, params, requestCli)) ?? null }
      } catch (error) {
        if (process.env.WATIFY_ENGINE_DEBUG) process.stderr.write(`[engine] ${method} failed: ${JSON.stringify({ ...(error as object), name: (error as Error)?.name, message: (error as Error)?.message })}\n`)
        return (method === 'applyMigrations' && (await migrationFailed(error, params))) || toReply(error)
      } finally {
        // the CLI kills the engine right after the last answer: clean up now
        await adapter.cleanup()
      }
    },
    async close() {
      await adapter.cleanup()
    },
  }
}

/** The statement of `script` that contains character `position` (1-based code points, as PostgreSQL reports it), with its `;` and without comment lines, as the native engine prints it. */
export function statementAt(script: string, position: number): string | undefined {
  if (!position) return undefined
  const idx = positionToIndex(script, position)
  const statements = splitStatements(script)
  const hit = statements.find((s) => idx >= s.start && idx < s.end) ?? statements.find((s) => idx < s.end)
  if (!hit) return undefined
  return script
    .slice(hit.start, hit.end)
    .split('\n')
    .filter((l) => !/^\s*--/.test(l))
    .join('\n')
    .trim()
}
