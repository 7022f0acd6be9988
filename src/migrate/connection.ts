// Opening a pg connection from a Prisma-style URL, and turning driver errors
// about reaching the server into MigrateErrors that say what to do.
import type pg from 'pg'
import { MigrateError } from './errors.ts'
import { LibpqClient } from '../db/pg-client.ts'
import { DatabaseUrlError, driverConfig, parseDatabaseUrl } from '../db/url.ts'
import { quoteIdent } from '../sql/split.ts'

export { withDatabase } from '../db/url.ts'

export interface Target {
  /** The URL as given (with Prisma's `?schema=`). Never put it in a message unmasked. */
  url: string
  schema: string
  database: string
  host: string
  port: number
  user: string
  password: string
}

/** Parses `url` as the driver does; a URL we cannot read one way only is refused without being echoed. */
export function parseTarget(url: string): Target {
  try {
    const p = parseDatabaseUrl(url)
    return { url, schema: p.schema, database: p.database, host: p.host, port: p.port, user: p.user, password: p.password }
  } catch (err) {
    if (!(err instanceof DatabaseUrlError)) throw err
    throw new MigrateError('BAD_ARGUMENT', `Cannot use DATABASE_URL: ${err.message}`, { hint: err.hint, cause: err })
  }
}

/** Maps errors raised while connecting to the codes the CLI turns into exit codes. */
export function connectionError(err: unknown, target: Target): MigrateError | undefined {
  const e = err as { code?: string; message?: string; errors?: Array<{ code?: string }> }
  const code = e?.code ?? e?.errors?.[0]?.code
  const where = `\`${target.host}:${target.port}\``
  const hint = 'Check DATABASE_URL (`npm run db:config`), or use the embedded server: unset DATABASE_URL and run `npm run db:start`'
  switch (code) {
    case 'ECONNREFUSED':
      return new MigrateError('UNREACHABLE', `Cannot connect to PostgreSQL at ${where}: connection refused (no server listening).`, { hint, cause: err })
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new MigrateError('UNREACHABLE', `Cannot resolve host \`${target.host}\`.`, { hint, cause: err })
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new MigrateError('UNREACHABLE', `Cannot reach PostgreSQL at ${where} (${code}).`, { hint, cause: err })
    case '28P01':
    case '28000':
      return new MigrateError('AUTH_FAILED', `PostgreSQL at ${where} rejected user \`${target.user}\`: password authentication failed.`, {
        hint: 'Fix the user or password in DATABASE_URL, then run `npm run db:test`',
        cause: err,
      })
    case '3D000':
      return new MigrateError('DATABASE_MISSING', `Database \`${target.database}\` does not exist on ${where}.`, {
        hint: `Create it: \`createdb -h ${target.host} -p ${target.port} ${target.database}\` (or CREATE DATABASE "${target.database}"), then run \`npm run setup\``,
        cause: err,
      })
    case 'ECONNRESET':
    case 'EPIPE':
      return new MigrateError('UNREACHABLE', `The server at ${where} dropped the connection while connecting (is it PostgreSQL?).`, { hint, cause: err })
    default:
      if (e?.message && /client password must be a string|no password supplied/i.test(e.message)) {
        return new MigrateError('AUTH_FAILED', `PostgreSQL at ${where} asks user \`${target.user}\` for a password, and the URL has none.`, {
          hint: 'Put the password in the URL (`postgresql://user:password@host:port/db`, special characters percent-encoded) or in PGPASSWORD / ~/.pgpass, then run `npm run db:test`',
          cause: err,
        })
      }
      if (e?.message && /does not support SSL connections/i.test(e.message)) {
        return new MigrateError('UNREACHABLE', `PostgreSQL at ${where} does not accept TLS, and the URL's \`sslmode\` requires it.`, {
          hint: 'Use `sslmode=prefer` (TLS when offered) or `sslmode=disable` in the URL, or turn `ssl = on` on the server',
          cause: err,
        })
      }
      if (e?.message && /Connection terminated unexpectedly/i.test(e.message)) {
        return new MigrateError('UNREACHABLE', `The server at ${where} closed the connection while connecting (is it PostgreSQL, and does it accept this client?).`, { hint, cause: err })
      }
      if (e?.message && /timeout expired|Connection terminated due to connection timeout/i.test(e.message)) {
        return new MigrateError('UNREACHABLE', `Timed out connecting to PostgreSQL at ${where}: the host accepted no connection, or never answered.`, { hint: `${hint}; a slow network may need \`?connect_timeout=<seconds>\` in the URL`, cause: err })
      }
      return undefined
  }
}

export interface Connection {
  client: pg.Client
  target: Target
  close(): Promise<void>
}

/**
 * Throws READ_ONLY_SERVER when `client` is connected to a standby (a server in
 * recovery): no schema change can run there, and the history it shows is the
 * primary's, however far behind. Shared by our commands and the engine stand-in.
 */
export async function assertPrimary(client: pg.Client, where: string): Promise<void> {
  const r = await client.query<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby')
  if (!r.rows[0]?.standby) return
  throw new MigrateError('READ_ONLY_SERVER', `\`${where}\` is a standby server (in recovery, read-only): migrations run on the primary only, so nothing was changed.`, {
    hint: 'Point DIRECT_DATABASE_URL (or DATABASE_URL, when DIRECT_DATABASE_URL is not set) at the primary server, then run the command again',
  })
}

/**
 * Connects and sets search_path to the URL's schema (as Prisma does), so the
 * migrations' unqualified names land in that schema. Refuses a standby unless
 * `allowStandby` (db:test only reports what it reached).
 */
export async function connect(url: string, opts: { applicationName?: string; connectTimeoutMs?: number; allowStandby?: boolean } = {}): Promise<Connection> {
  const target = parseTarget(url)
  // The URL's `?connect_timeout=` wins over the caller's default (driverConfig).
  const client = new LibpqClient(driverConfig(url, { application_name: opts.applicationName ?? 'wateen-migrate', ...(opts.connectTimeoutMs ? { connectionTimeoutMillis: opts.connectTimeoutMs } : {}) }) as pg.ClientConfig)
  // An 'error' event without a listener would crash the process (e.g. the server restarting).
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (err) {
    await client.end().catch(() => {})
    throw connectionError(err, target) ?? err
  }
  try {
    if (!opts.allowStandby) await assertPrimary(client, `${target.host}:${target.port}`)
    await client.query(`SET search_path TO ${quoteIdent(target.schema)}`)
    // Let the server notice a killed client quickly instead of finishing (and
    // holding locks for) a long statement nobody waits for. PostgreSQL >= 14.
    await client.query(`SET client_connection_check_interval = '1s'`).catch(() => {})
  } catch (err) {
    await client.end().catch(() => {})
    throw err
  }
  let closed = false
  return {
    client,
    target,
    close: async () => {
      if (closed) return
      closed = true
      await client.end().catch(() => {})
    },
  }
}

/**
 * The grant a role lacks, from a permission error (42501) the server raised,
 * as the command to run; undefined for other errors.
 */
export function grantHint(err: unknown, target: Target): string | undefined {
  const e = err as { code?: string; message?: string }
  if (e?.code !== '42501') return undefined
  const user = quoteIdent(target.user || 'current_user')
  const schema = /permission denied for schema (\S+)/.exec(e.message ?? '')?.[1]
  if (schema) return `User \`${target.user}\` may not create objects in schema \`${schema}\` (PostgreSQL 15 no longer lets every user create in \`public\`). As its owner or a superuser: \`GRANT USAGE, CREATE ON SCHEMA ${quoteIdent(schema)} TO ${user};\``
  const owner = /must be owner of (?:table|relation|type|function|index|sequence) (\S+)/.exec(e.message ?? '')?.[1]
  if (owner) return `User \`${target.user}\` does not own \`${owner}\`. As a superuser: \`ALTER TABLE ${owner} OWNER TO ${user};\` (migrations should run as the role that owns the schema)`
  const database = /permission denied for database (\S+)/.exec(e.message ?? '')?.[1]
  if (database) return `User \`${target.user}\` may not create schemas in database \`${database}\`. As its owner or a superuser: \`GRANT CREATE ON DATABASE ${quoteIdent(database)} TO ${user};\``
  if (/permission denied to create database/.test(e.message ?? '')) return `Grant it: \`ALTER ROLE ${user} CREATEDB;\``
  return `User \`${target.user}\` lacks a privilege this needs; run migrations as the role that owns schema \`${target.schema}\``
}
