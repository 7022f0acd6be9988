// Where the database URL comes from (environment > .env > embedded) and how
// URLs and error texts are masked. A scratch project folder (WATIFY_PROJECT_ROOT)
// stands in for the real one, whose .env is never touched.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, afterEach, describe, test } from 'node:test'
import pg from 'pg'
import { configValue, describeUrl, findConfiguredUrl, maskSecrets, maskUrl, projectRoot, resolveDatabaseUrl, usesNamedStatements } from '../src/db/config.ts'
import { embeddedSettings, stopEmbeddedServer } from '../src/db/embedded/index.ts'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const scratch = mkdtempSync(path.join(os.tmpdir(), 'watify-config-'))
chmodSync(scratch, 0o755)
const savedEnv = { ...process.env }

function freshProject(envText?: string): string {
  const dir = mkdtempSync(path.join(scratch, 'prj-'))
  writeFileSync(path.join(dir, 'package.json'), '{"name":"scratch"}\n')
  if (envText !== undefined) writeFileSync(path.join(dir, '.env'), envText)
  return dir
}

afterEach(() => {
  for (const key of ['DATABASE_URL', 'WATIFY_PROJECT_ROOT', 'WATIFY_EMBEDDED_DIR', 'WATIFY_EMBEDDED_PORT', 'FROM_DOTENV']) {
    if (savedEnv[key] === undefined) delete process.env[key]
    else process.env[key] = savedEnv[key]
  }
})

after(() => rmSync(scratch, { recursive: true, force: true }))

describe('projectRoot', () => {
  test('is the folder holding package.json, whatever the cwd', () => {
    delete process.env.WATIFY_PROJECT_ROOT
    const cwd = process.cwd()
    process.chdir(os.tmpdir())
    try {
      assert.equal(projectRoot(), repoRoot)
    } finally {
      process.chdir(cwd)
    }
  })

  test('WATIFY_PROJECT_ROOT overrides it', () => {
    process.env.WATIFY_PROJECT_ROOT = scratch
    assert.equal(projectRoot(), scratch)
  })
})

describe('findConfiguredUrl', () => {
  test('DATABASE_URL in the environment beats .env', () => {
    process.env.WATIFY_PROJECT_ROOT = freshProject('DATABASE_URL=postgresql://file:pw@h/filedb\n')
    process.env.DATABASE_URL = 'postgresql://env:pw@h/envdb'
    assert.deepEqual(findConfiguredUrl(), { url: 'postgresql://env:pw@h/envdb', source: 'environment' })
  })

  test('.env is read (quotes, comments, export) but not loaded into process.env', () => {
    const root = freshProject('# local settings\nFROM_DOTENV=yes\nexport DATABASE_URL="postgresql://file:p%40ss@db.example.com:6543/app?schema=s1"  # comment\n')
    process.env.WATIFY_PROJECT_ROOT = root
    delete process.env.DATABASE_URL
    assert.deepEqual(findConfiguredUrl(), {
      url: 'postgresql://file:p%40ss@db.example.com:6543/app?schema=s1',
      source: '.env',
      envFile: path.join(root, '.env'),
    })
    assert.equal(process.env.DATABASE_URL, undefined)
    assert.equal(process.env.FROM_DOTENV, undefined)
  })

  test('an empty DATABASE_URL counts as unset, in the environment and in .env', () => {
    process.env.WATIFY_PROJECT_ROOT = freshProject('DATABASE_URL=\n')
    process.env.DATABASE_URL = '  '
    assert.equal(findConfiguredUrl(), null)
  })

  test('no .env, or a .env without DATABASE_URL -> null', () => {
    delete process.env.DATABASE_URL
    process.env.WATIFY_PROJECT_ROOT = freshProject()
    assert.equal(findConfiguredUrl(), null)
    process.env.WATIFY_PROJECT_ROOT = freshProject('OTHER=1\n')
    assert.equal(findConfiguredUrl(), null)
  })
})

describe('DIRECT_DATABASE_URL (schema changes) and pgbouncer=true (client)', () => {
  test("purpose 'schema' prefers DIRECT_DATABASE_URL (environment, then .env); the app keeps DATABASE_URL", () => {
    const root = freshProject('DIRECT_DATABASE_URL=postgresql://file:pw@db:5432/app\n')
    process.env.WATIFY_PROJECT_ROOT = root
    process.env.DATABASE_URL = 'postgresql://env:pw@pooler:6432/app?pgbouncer=true'
    delete process.env.DIRECT_DATABASE_URL
    try {
      assert.deepEqual(findConfiguredUrl('schema'), { url: 'postgresql://file:pw@db:5432/app', source: '.env', envFile: path.join(root, '.env'), variable: 'DIRECT_DATABASE_URL' })
      assert.deepEqual(findConfiguredUrl(), { url: 'postgresql://env:pw@pooler:6432/app?pgbouncer=true', source: 'environment' })
      process.env.DIRECT_DATABASE_URL = 'postgresql://env:pw@db2:5432/app'
      assert.deepEqual(findConfiguredUrl('schema'), { url: 'postgresql://env:pw@db2:5432/app', source: 'environment', variable: 'DIRECT_DATABASE_URL' })
      process.env.WATIFY_PROJECT_ROOT = freshProject()
      delete process.env.DIRECT_DATABASE_URL
      assert.deepEqual(findConfiguredUrl('schema'), { url: 'postgresql://env:pw@pooler:6432/app?pgbouncer=true', source: 'environment' })
    } finally {
      delete process.env.DIRECT_DATABASE_URL
    }
  })

  test('usesNamedStatements: false only with pgbouncer=true (or 1/on/yes)', () => {
    assert.equal(usesNamedStatements('postgresql://u@h/db'), true)
    assert.equal(usesNamedStatements('postgresql://u@h/db?pgbouncer=false'), true)
    assert.equal(usesNamedStatements('postgresql://u@h/db?schema=x&pgbouncer=true'), false)
    assert.equal(usesNamedStatements('postgresql://u@h/db?pgbouncer=1'), false)
  })
})

describe('embedded settings from .env', () => {
  test('WATIFY_EMBEDDED_PORT / WATIFY_EMBEDDED_DIR in .env apply; the environment wins; relative dirs are from the project root', () => {
    const root = freshProject('WATIFY_EMBEDDED_PORT=26001\nWATIFY_EMBEDDED_DIR=var/pg\n')
    process.env.WATIFY_PROJECT_ROOT = root
    delete process.env.WATIFY_EMBEDDED_PORT
    delete process.env.WATIFY_EMBEDDED_DIR
    assert.deepEqual(embeddedSettings(), { port: 26001, portSource: '.env', dataDir: path.join(root, 'var', 'pg'), user: 'postgres', database: 'watify' })
    assert.deepEqual(configValue('WATIFY_EMBEDDED_PORT'), { value: '26001', source: '.env', envFile: path.join(root, '.env') })
    process.env.WATIFY_EMBEDDED_PORT = '26002'
    assert.equal(embeddedSettings().port, 26002)
    assert.deepEqual(configValue('WATIFY_EMBEDDED_PORT'), { value: '26002', source: 'environment' })
  })

  test('defaults: <project root>/.data/postgres, a port from 25432-32431 derived from that path, then the one remembered in it', () => {
    const root = freshProject()
    process.env.WATIFY_PROJECT_ROOT = root
    delete process.env.WATIFY_EMBEDDED_PORT
    delete process.env.WATIFY_EMBEDDED_DIR
    const dataDir = path.join(root, '.data', 'postgres')
    const first = embeddedSettings()
    assert.deepEqual({ ...first, port: 0 }, { port: 0, portSource: 'new', dataDir, user: 'postgres', database: 'watify' })
    assert.ok(first.port >= 25432 && first.port <= 32431, String(first.port))
    assert.equal(embeddedSettings().port, first.port, 'the same folder gives the same port')
    const others = new Set<number>()
    for (let i = 0; i < 4; i++) {
      process.env.WATIFY_PROJECT_ROOT = freshProject()
      others.add(embeddedSettings().port)
    }
    assert.ok(others.size > 1 || !others.has(first.port), 'other folders give other ports')
    process.env.WATIFY_PROJECT_ROOT = root
    mkdirSync(dataDir, { recursive: true })
    writeFileSync(path.join(dataDir, 'watify.port'), '27123\n')
    assert.deepEqual(embeddedSettings(), { port: 27123, portSource: 'data dir', dataDir, user: 'postgres', database: 'watify' })
  })
})

describe('resolveDatabaseUrl', () => {
  test('environment, then .env, without starting anything', async () => {
    const root = freshProject('DATABASE_URL=postgresql://file@h/filedb\n')
    process.env.WATIFY_PROJECT_ROOT = root
    process.env.DATABASE_URL = 'postgresql://env@h/envdb'
    assert.deepEqual(await resolveDatabaseUrl(), { url: 'postgresql://env@h/envdb', source: 'environment' })
    delete process.env.DATABASE_URL
    assert.deepEqual(await resolveDatabaseUrl(), { url: 'postgresql://file@h/filedb', source: '.env', envFile: path.join(root, '.env') })
  })

  test('falls back to the embedded server (in <project root>/.data/postgres by default)', async () => {
    const root = freshProject()
    process.env.WATIFY_PROJECT_ROOT = root
    delete process.env.DATABASE_URL
    delete process.env.WATIFY_EMBEDDED_DIR
    let port = 0
    do port = 25500 + Math.floor(Math.random() * 7000)
    while (!(await new Promise<boolean>((r) => {
      const s = net.createServer().once('error', () => r(false))
      s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => r(true)))
    })))
    process.env.WATIFY_EMBEDDED_PORT = String(port)
    const lines: string[] = []
    try {
      const resolved = await resolveDatabaseUrl({ log: (l) => lines.push(l) })
      assert.equal(resolved.source, 'embedded')
      assert.match(resolved.url, new RegExp(`^postgresql://postgres:[^@]+@127\\.0\\.0\\.1:${port}/watify$`))
      assert.equal(lines.at(-1), `Embedded PostgreSQL started on 127.0.0.1:${port} (data: .data/postgres)`)
      const client = new pg.Client({ connectionString: resolved.url })
      await client.connect()
      const { rows } = await client.query('SELECT current_database() AS db')
      await client.end()
      assert.deepEqual(rows, [{ db: 'watify' }])
    } finally {
      assert.deepEqual(await stopEmbeddedServer(), { wasRunning: true })
    }
  })
})

describe('maskUrl', () => {
  const cases: [string, string][] = [
    ['postgresql://user:s3cret@host:5432/db', 'postgresql://user:****@host:5432/db'],
    ['postgres://user:s3cret@host/db?schema=app&sslmode=require', 'postgres://user:****@host/db?schema=app&sslmode=require'],
    ['postgresql://user@host/db', 'postgresql://user@host/db'],
    ['postgresql://host/db', 'postgresql://host/db'],
    ['postgresql://user:@host/db', 'postgresql://user:@host/db'],
    ['postgresql://u:p%40ss%2Fw0rd@host/db', 'postgresql://u:****@host/db'],
    // Unencoded `@` in the password: the last `@` before the path ends the userinfo.
    ['postgresql://u:p@ss@host/db', 'postgresql://u:****@host/db'],
    // Unencoded `/` makes it unparseable: mask up to the `@` anyway.
    ['postgresql://u:ab/cd@host/db', 'postgresql://u:****@host/db'],
    ['postgresql://host/db?user=u&password=hunter2&sslmode=disable', 'postgresql://host/db?user=u&password=****&sslmode=disable'],
    ['postgresql://u:x@host/db?sslpassword=keypass#frag', 'postgresql://u:****@host/db?sslpassword=****#frag'],
    ['postgresql://[::1]:5432/db', 'postgresql://[::1]:5432/db'],
    ['not a url at all', 'not a url at all'],
  ]
  for (const [input, expected] of cases) {
    test(`${input} -> ${expected}`, () => {
      assert.equal(maskUrl(input), expected)
    })
  }

  test('the password never survives, whatever it contains', () => {
    for (const pw of ['s3cret', 'p@ss', 'a:b:c', 'x?y#z', 'sp ace', 'ÅßÇ', '%41%42']) {
      const url = `postgresql://user:${pw}@host/db`
      assert.ok(!maskUrl(url).includes(pw), `${url} -> ${maskUrl(url)}`)
      const enc = `postgresql://user:${encodeURIComponent(pw)}@host/db`
      assert.ok(!maskUrl(enc).includes(encodeURIComponent(pw)), `${enc} -> ${maskUrl(enc)}`)
    }
  })
})

describe('maskSecrets', () => {
  test('masks every URL in a text', () => {
    const text = 'connect postgresql://a:b1x2@h1/db failed; fallback "postgres://c:d9z@h2:5433/x?sslmode=require" also failed'
    assert.equal(maskSecrets(text), 'connect postgresql://a:****@h1/db failed; fallback "postgres://c:****@h2:5433/x?sslmode=require" also failed')
  })

  test('masks libpq keyword passwords', () => {
    assert.equal(maskSecrets("host=h password=hunter2 dbname=x"), 'host=h password=**** dbname=x')
    assert.equal(maskSecrets("host=h password='two words' user=u"), 'host=h password=**** user=u')
  })

  test('masks known secrets, raw or percent-encoded', () => {
    const text = 'auth failed for p@ss w0rd (sent as p%40ss%20w0rd)'
    assert.equal(maskSecrets(text, ['p@ss w0rd', '']), 'auth failed for **** (sent as ****)')
  })

  test('leaves ordinary text alone', () => {
    assert.equal(maskSecrets('relation "users" does not exist at https://example.com/docs'), 'relation "users" does not exist at https://example.com/docs')
  })
})

describe('describeUrl', () => {
  test('reads every part', () => {
    assert.deepEqual(describeUrl('postgresql://app%20user:secret@db.example.com:6543/my%20db?schema=tenant_1&sslmode=verify-full'), {
      host: 'db.example.com',
      port: 6543,
      database: 'my db',
      user: 'app user',
      schema: 'tenant_1',
      ssl: 'verify-full',
      passwordSet: true,
    })
  })

  test('defaults: port 5432, schema public, ssl disable (node-postgres never tries TLS unasked), database = user', () => {
    assert.deepEqual(describeUrl('postgres://bob@localhost'), {
      host: 'localhost',
      port: 5432,
      database: 'bob',
      user: 'bob',
      schema: 'public',
      ssl: 'disable',
      passwordSet: false,
    })
  })

  test('ssl=true, ?password=, IPv6 host, socket folder in ?host=', () => {
    const a = describeUrl('postgresql://u@[::1]:5433/d?ssl=true&password=x')
    assert.deepEqual([a.host, a.port, a.ssl, a.passwordSet], ['::1', 5433, 'require', true])
    const b = describeUrl('postgresql://u@/d?host=/var/run/postgresql')
    assert.deepEqual([b.host, b.port, b.database], ['/var/run/postgresql', 5432, 'd'])
  })

  test('a bad URL is refused with a hint, without echoing it', () => {
    assert.throws(
      () => describeUrl('postgresql://u:topsecret@host:notaport/db'),
      (err: Error & { hint?: string }) => {
        assert.equal(err.message, 'The database URL is not a valid URL.')
        assert.match(err.hint ?? '', /^Percent-encode special characters/)
        return true
      },
    )
    assert.throws(() => describeUrl('mysql://u:topsecret@h/db'), /^DatabaseUrlError: Unsupported database URL scheme `mysql:`\.$/)
  })
})

describe('embedded-cli', () => {
  test('without a command prints the usage and exits 2', async () => {
    const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/db/embedded/cli.ts'], { cwd: repoRoot })
      let out = ''
      let err = ''
      child.stdout.on('data', (c: Buffer) => (out += c))
      child.stderr.on('data', (c: Buffer) => (err += c))
      child.on('close', (code) => resolve({ code, out, err }))
    })
    assert.deepEqual(r, { code: 2, out: '', err: 'Usage: tsx src/db/embedded/cli.ts <ensure|stop|status>\n' })
  })
})
