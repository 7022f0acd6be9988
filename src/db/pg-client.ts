// node-postgres's Client with libpq's `sslmode=prefer`: ask for TLS and, when
// the server answers the SSLRequest with 'N' (ssl = off, most local servers,
// PgBouncer without TLS), go on in plain text on the same socket, as libpq does.
// pg itself fails with "The server does not support SSL connections".
// Every client and pool the project opens from a URL uses it (driverConfig
// puts it in the pool config as `Client`).
import type { Duplex } from 'node:stream'

import pg from 'pg'

type Listener = (...args: unknown[]) => void

interface PgConnection {
  ssl: unknown
  stream: Duplex
  attachListeners(stream: Duplex): void
  emit(event: string): boolean
}

export class LibpqClient extends pg.Client {
  constructor(config?: string | (pg.ClientConfig & { connectTimeoutMs?: number })) {
    // driverConfig gives the pool (which reads connectionTimeoutMillis too, for the whole
    // acquisition, waiting for a free connection included) more than the connection itself,
    // so that the client's own, host-naming error is the one that reaches the caller.
    // pg.Pool hands its clients options whose password is not enumerable (kept out of logs):
    // a spread would drop it, so it is carried over by name.
    super(typeof config === 'object' && config.connectTimeoutMs !== undefined ? { ...config, password: config.password, connectionTimeoutMillis: config.connectTimeoutMs } : config)
    if (typeof config === 'object' && (config as { sslmode?: unknown }).sslmode === 'prefer') fallBackToPlain((this as unknown as { connection: PgConnection }).connection)
  }

  // A network failure names the server it happened on: a script importing the client sees
  // which host timed out or refused, not only `timeout expired`.
  override connect(): Promise<pg.Client>
  override connect(callback: (err: Error | null, client?: pg.Client) => void): void
  override connect(callback?: (err: Error | null, client?: pg.Client) => void): Promise<pg.Client> | void {
    const named = (err: Error): Error => nameServer(err, this.host, this.port)
    if (callback) return super.connect(((err: Error | null) => callback(err ? named(err) : null, this)) as (err: Error) => void)
    return super.connect().catch((err: Error) => {
      throw named(err)
    })
  }
}

function nameServer(err: Error, host: string, port: number): Error {
  const e = err as Error & { code?: string }
  // Errors the server sent (a SQLSTATE) already come from the server that was reached.
  if (!e || typeof e.message !== 'string' || /^[0-9A-Z]{5}$/.test(e.code ?? '') || e.message.includes(' at PostgreSQL server ')) return err
  e.message = `${e.message} (at PostgreSQL server ${host}:${port})`
  return e
}

/**
 * pg reads the server's one-byte answer to its SSLRequest with a one-time
 * 'data' listener on the socket; on 'N' we continue as a plain connection
 * instead: the server waits for the startup message on the same socket, and
 * the client sends it when the connection says 'sslconnect'.
 */
function fallBackToPlain(connection: PgConnection): void {
  const stream = connection.stream
  const once = stream.once
  stream.once = function (this: Duplex, event: string | symbol, listener: Listener) {
    if (event !== 'data' || !connection.ssl) return once.call(this, event, listener)
    stream.once = once
    return once.call(this, 'data', (buffer: unknown) => {
      if (Buffer.isBuffer(buffer) && buffer.length === 1 && buffer[0] === 0x4e /* 'N' */) {
        connection.ssl = false
        connection.attachListeners(stream)
        connection.emit('sslconnect')
        return
      }
      listener(buffer)
    })
  } as Duplex['once']
}
