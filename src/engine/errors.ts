// Turns errors from pg, the driver adapter and the Wasm engine into the
// user-facing errors (code + message) the Prisma CLI prints, with the same
// P-codes the native engine uses.
import { describeUrl, maskSecrets } from '../db/url.ts'
import { MigrateError } from '../migrate/errors.ts'

export interface UserFacingError {
  message: string
  error_code?: string
  meta?: Record<string, unknown>
  is_panic?: boolean
}

/** Host, port, user and database of `url` as the driver reads them; placeholders when it cannot be read. */
function targetOf(url: string | undefined): { host: string; port: string; user: string; database: string } {
  try {
    const t = describeUrl(url ?? '')
    return { host: t.host, port: String(t.port), user: t.user, database: t.database }
  } catch {
    return { host: 'localhost', port: '5432', user: '', database: '' }
  }
}

/** Maps a pg / Node network error to Prisma's connection error codes. */
export function userFacingError(error: unknown, url?: string): UserFacingError {
  const e = error as { code?: string; message?: string; hint?: string }
  const { host, port, user, database } = targetOf(url)
  // Our own refusals (a pooler, a standby): message and the fix, as our commands print them.
  if (e instanceof MigrateError) return { message: maskSecrets(`${e.message}${e.hint ? `\n\nHint: ${e.hint}` : ''}`) }
  if (/timeout expired|connection timeout/i.test(e?.message ?? '')) {
    return {
      error_code: 'P1001',
      message: `Can't reach database server at \`${host}:${port}\`: it accepted no connection within the connect timeout, or never answered.\n\nPlease make sure your database server is running at \`${host}:${port}\` (a slow network may need \`?connect_timeout=<seconds>\` in the URL).`,
    }
  }
  if (/client password must be a string|no password supplied/i.test(e?.message ?? '')) {
    return {
      error_code: 'P1000',
      message: `Authentication failed against database server at \`${host}:${port}\`: it asks \`${user}\` for a password and the URL has none.\n\nPut the password in the URL (postgresql://user:password@host:port/db) or in PGPASSWORD / ~/.pgpass.`,
    }
  }
  switch (e?.code) {
    case '3D000':
      return {
        error_code: 'P1003',
        message: `Database \`${database}\` does not exist on the database server at \`${host}:${port}\`.`,
        meta: { database_name: database, database_host: host, database_port: port },
      }
    case '28P01':
    case '28000':
      return {
        error_code: 'P1000',
        message: `Authentication failed against database server, the provided database credentials for \`${user}\` are not valid.\n\nPlease make sure to provide valid database credentials for the database server at the configured address.`,
      }
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
      return {
        error_code: 'P1001',
        message: `Can't reach database server at \`${host}:${port}\`\n\nPlease make sure your database server is running at \`${host}:${port}\`.`,
      }
    case '42P04':
      return { error_code: 'P1009', message: `Database \`${database}\` already exists on the database server at \`${host}:${port}\`` }
    case 'P1012':
      return { error_code: 'P1012', message: e.message ?? 'Invalid configuration' }
    default:
      // Driver messages can quote a connection string.
      return { message: maskSecrets(e?.message ?? String(error)) }
  }
}
