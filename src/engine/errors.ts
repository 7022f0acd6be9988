// Turns errors from pg, the driver adapter and the Wasm engine into the
// user-facing errors (code + message) the Prisma CLI prints, with the same
// P-codes the native engine uses.
import { databaseName } from './adapter.ts'

export interface UserFacingError {
  message: string
  error_code?: string
  meta?: Record<string, unknown>
  is_panic?: boolean
}

function hostOf(url: string | undefined): { host: string; port: string } {
  try {
    const u = new URL(url ?? '')
    return { host: u.hostname || 'localhost', port: u.port || '5432' }
  } catch {
    return { host: 'localhost', port: '5432' }
  }
}

function userOf(url: string | undefined): string {
  try {
    return decodeURIComponent(new URL(url ?? '').username) || 'postgres'
  } catch {
    return 'postgres'
  }
}

/** Maps a pg / Node network error to Prisma's connection error codes. */
export function userFacingError(error: unknown, url?: string): UserFacingError {
  const e = error as { code?: string; message?: string }
  const { host, port } = hostOf(url)
  switch (e?.code) {
    case '3D000':
      return {
        error_code: 'P1003',
        message: `Database \`${url ? databaseName(url) : ''}\` does not exist on the database server at \`${host}:${port}\`.`,
        meta: { database_name: url ? databaseName(url) : '', database_host: host, database_port: port },
      }
    case '28P01':
    case '28000':
      return {
        error_code: 'P1000',
        message: `Authentication failed against database server, the provided database credentials for \`${userOf(url)}\` are not valid.\n\nPlease make sure to provide valid database credentials for the database server at the configured address.`,
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
      return { error_code: 'P1009', message: `Database \`${url ? databaseName(url) : ''}\` already exists on the database server at \`${host}:${port}\`` }
    case 'P1012':
      return { error_code: 'P1012', message: e.message ?? 'Invalid configuration' }
    default:
      return { message: e?.message ?? String(error) }
  }
}
