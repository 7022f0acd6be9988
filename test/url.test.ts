// src/db/url.ts: the one parser and masker of database URLs. Parsing must agree
// with node-postgres (what the driver really connects to), and no refusal,
// mask or driver config may carry the password.
import assert from 'node:assert/strict'
import { userInfo } from 'node:os'
import { describe, test } from 'node:test'

import pg from 'pg'
import { parse as pgParse } from 'pg-connection-string'

import { DatabaseUrlError, describeUrl, driverConfig, maskSecrets, maskUrl, parseDatabaseUrl, PRISMA_ONLY_PARAMS, splitPassword, withDatabase, withPassword } from '../src/db/url.ts'

const PASSWORDS = ['s3cret', 'p@ss', 'a:b:c', 'sp ace', 'ÅßÇ', '%41%42', 'x?y', 'a/b', 'h#sh', 'q@r/s:t%u']

describe('parseDatabaseUrl agrees with node-postgres', () => {
  const urls = [
    'postgresql://app%20user:secret@db.example.com:6543/my%20db?schema=tenant_1&sslmode=disable',
    'postgres://bob@localhost',
    'postgresql://u@[::1]:5433/d',
    'postgresql://u@/d?host=/var/run/postgresql',
    'postgresql://host/db?user=qu&password=qp',
    ...PASSWORDS.map((pw) => `postgresql://user:${encodeURIComponent(pw)}@host:5433/db`),
  ]
  for (const url of urls) {
    test(maskUrl(url), () => {
      const p = parseDatabaseUrl(url)
      // What a pg.Client built from the connection string would use.
      const client = new pg.Client({ connectionString: url })
      assert.deepEqual([p.host, p.port, p.database, p.user, p.password], [client.host, client.port, client.database, client.user, client.password ?? ''])
    })
  }

  test('one default database: the user, as the driver has it (never a guess of ours)', () => {
    const env = { PGUSER: process.env.PGUSER, PGDATABASE: process.env.PGDATABASE }
    delete process.env.PGUSER
    delete process.env.PGDATABASE
    try {
      assert.equal(parseDatabaseUrl('postgresql://alice@h').database, 'alice')
      const osUser = process.env.USER || userInfo().username
      assert.deepEqual([parseDatabaseUrl('postgresql://h').user, parseDatabaseUrl('postgresql://h').database], [osUser, osUser])
      // and the driver is told the same
      assert.equal(driverConfig('postgresql://h').user, osUser)
    } finally {
      for (const [k, v] of Object.entries(env)) if (v !== undefined) process.env[k] = v
    }
  })
})

describe('a URL that reads more than one way is refused, never echoed', () => {
  const ambiguous = [
    'postgresql://u:Zqpa/Zqss@dbhost9/db', // `/` ends the host: port `Zqpa`?
    'postgresql://u:12/Zqss@dbhost9/db', // would connect to host `u`, database `Zqss@dbhost9/db`
    'postgresql://u:12#Zqss@dbhost9/db', // the fragment would swallow the host
    'postgresql://u:12?Zqss@dbhost9/db', // the query would swallow the host
    'postgresql://u:Zqp@ss:w/rd%40x@dbhost9/db',
  ]
  for (const url of ambiguous) {
    test(url.replace(/:[^@]*@/, ':<pw>@'), () => {
      assert.throws(
        () => parseDatabaseUrl(url),
        (err: unknown) => {
          assert.ok(err instanceof DatabaseUrlError)
          assert.ok(!/Zq|dbhost9|12/.test(err.message), err.message)
          assert.match(err.hint, /Percent-encode/)
          return true
        },
      )
      // Masking still hides everything up to the last `@`.
      assert.equal(maskUrl(url), 'postgresql://u:****@dbhost9/db')
    })
  }

  test('a raw `@` in the password is read as the driver reads it, and masked whole', () => {
    assert.equal(parseDatabaseUrl('postgresql://u:p@ss@host/db').password, 'p@ss')
    assert.equal(maskUrl('postgresql://u:p@ss@host/db'), 'postgresql://u:****@host/db')
  })
})

describe('driverConfig', () => {
  test('drops every Prisma-only parameter and never holds the password as a string', () => {
    const url = `postgresql://u:${encodeURIComponent('q@r/s')}@h:6000/d?${PRISMA_ONLY_PARAMS.map((p) => `${p}=1`).join('&')}&application_name=app`
    const config = driverConfig(url, { application_name: 'ours', options: '-c x=1' })
    // connect_timeout / socket_timeout (seconds, Prisma's and libpq's) become pg's millisecond settings;
    // a pool gets a second more for the whole acquisition than the connection itself (src/db/pg-client.ts).
    assert.deepEqual(JSON.parse(JSON.stringify(config)), {
      user: 'u',
      host: 'h',
      port: 6000,
      database: 'd',
      application_name: 'app',
      options: '-c x=1',
      keepAlive: true,
      connectTimeoutMs: 1000,
      connectionTimeoutMillis: 2000,
      query_timeout: 1000,
    })
    assert.equal(config.password?.(), 'q@r/s')
    assert.ok(!JSON.stringify(config).includes('q@r') && !JSON.stringify(config).includes('q%40r'))
    for (const p of PRISMA_ONLY_PARAMS) assert.equal(p in config, false, p)
    // Same settings as the driver's own parse of the stripped string.
    const plain = pgParse('postgresql://u:x@h:6000/d?application_name=app')
    assert.equal(plain.application_name, config.application_name)
  })
})

describe('sslmode as libpq reads it', () => {
  test('require and prefer encrypt without verifying, disable asks for nothing, verify-full verifies; nothing is printed', () => {
    const warnings: unknown[] = []
    const onWarning = (w: unknown) => warnings.push(w)
    process.on('warning', onWarning)
    try {
      assert.deepEqual(driverConfig('postgresql://u@h/d?sslmode=require').ssl, { rejectUnauthorized: false })
      assert.deepEqual(driverConfig('postgresql://u@h/d?sslmode=prefer').ssl, { rejectUnauthorized: false })
      assert.equal(driverConfig('postgresql://u@h/d?sslmode=disable').ssl, false)
      assert.deepEqual(driverConfig('postgresql://u@h/d?sslmode=verify-full').ssl, {})
      assert.deepEqual(driverConfig('postgresql://u@h/d?sslmode=require&uselibpqcompat=true').ssl, { rejectUnauthorized: false })
      assert.throws(() => driverConfig('postgresql://u@h/d?sslmode=verify-ca'), (e: Error) => e instanceof DatabaseUrlError && /sslrootcert/.test((e as DatabaseUrlError).hint))
      assert.throws(() => driverConfig('postgresql://u@h/d?connect_timeout=soon'), DatabaseUrlError)
    } finally {
      process.off('warning', onWarning)
    }
    assert.deepEqual(warnings, [])
  })
})

describe('rewriting', () => {
  test('withDatabase keeps server, credentials and parameters', () => {
    const url = 'postgresql://u:p%40w@h:5433/old?schema=s'
    const moved = withDatabase(url, 'new db')
    assert.deepEqual(parseDatabaseUrl(moved), { ...parseDatabaseUrl(url), database: 'new db' })
  })

  test('splitPassword / withPassword round-trip, raw or percent-encoded, userinfo or ?password=', () => {
    for (const pw of PASSWORDS) {
      const url = `postgresql://user:${encodeURIComponent(pw)}@host:5433/db?schema=x`
      const { url: bare, password } = splitPassword(url)
      assert.equal(password, pw)
      assert.ok(!bare.includes(encodeURIComponent(pw)), bare)
      assert.equal(parseDatabaseUrl(bare).password, '')
      assert.deepEqual(parseDatabaseUrl(withPassword(bare, pw)), parseDatabaseUrl(url))
    }
    assert.deepEqual(splitPassword('postgresql://u@h/d?password=qp&schema=x'), { url: 'postgresql://u@h/d?schema=x', password: 'qp' })
    assert.deepEqual(splitPassword('postgresql://u@h/d'), { url: 'postgresql://u@h/d', password: '' })
  })

  test('describeUrl never carries the password', () => {
    assert.equal('password' in describeUrl('postgresql://u:secret@h/d'), false)
  })
})

describe('maskSecrets', () => {
  test('masks a printed config (util.inspect and JSON forms) but not prose about passwords', () => {
    assert.equal(maskSecrets(`{ password: 'hunter2', user: 'u' }`), `{ password: '****', user: 'u' }`)
    assert.equal(maskSecrets(`{"password":"hunter2"}`), `{"password":"****"}`)
    assert.equal(maskSecrets('Password: set (hidden)'), 'Password: set (hidden)')
    assert.equal(maskSecrets('password authentication failed for user "u"'), 'password authentication failed for user "u"')
  })
})
