// Every snippet of the README and docs/ runs as written: each fenced ```ts and ```bash block
// is run from the project root, as a reader would (a script next to package.json importing
// ./src/index.ts; a shell running npm), against its own copy of a migrated database holding
// the seed data (DATABASE_URL). A block must exit 0, print what its `// prints:` (ts) or
// `# prints:` (bash) comments say, in order, and a script must exit as soon as it is done
// (nothing left open). A block that cannot run says why in its info string:
// ```bash no-run: <why>.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { after, before, describe, test } from 'node:test'

import { runProcess } from '../src/process.ts'
import { cleanEnv, ROOT } from './fixtures/cli.ts'
import { seededTemplate } from './helpers/seeded.ts'

const DOCS = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`), 'src/migrate/README.md']
const LANGS: Record<string, 'ts' | 'bash'> = { ts: 'ts', typescript: 'ts', bash: 'bash', sh: 'bash', shell: 'bash' }
/** How long a script may keep running after its last statement: an open pool would keep it 10 s. */
const EXIT_GRACE_MS = 5_000

interface Block {
  file: string
  line: number
  lang: 'ts' | 'bash'
  code: string
  noRun?: string
}

/** The fenced ts/bash blocks of a markdown file, with where they start and their no-run reason, if any. */
function blocksOf(file: string, text: string): Block[] {
  const out: Block[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*(.*)$/.exec(lines[i]!)
    if (!open) continue
    const end = lines.indexOf('```', i + 1)
    assert.ok(end > i, `${file}:${i + 1}: a fence that is never closed`)
    const lang = LANGS[open[1]!]
    if (lang) {
      const info = open[2]!.trim()
      const noRun = /^no-run:\s*(.*)$/.exec(info)
      assert.ok(info === '' || noRun, `${file}:${i + 1}: unknown fence info \`${info}\` (only \`no-run: <why>\`)`)
      out.push({ file, line: i + 1, lang, code: lines.slice(i + 1, end).join('\n') + '\n', ...(noRun ? { noRun: noRun[1]!.trim() } : {}) })
    }
    i = end
  }
  return out
}

const expectedLines = (b: Block): string[] => [...b.code.matchAll(b.lang === 'ts' ? /\/\/ prints: (.*)$/gm : /# prints: (.*)$/gm)].map((m) => m[1]!.trim())

/** Runs one block against `url`; returns its exit code and output. */
async function runBlock(b: Block, url: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = cleanEnv({ DATABASE_URL: url, WATIFY_DEV_EMBEDDED: undefined })
  if (b.lang === 'bash') return runProcess('bash', ['-e', '-o', 'pipefail', '-c', b.code], { cwd: ROOT, env, input: '', timeoutMs: 120_000 })
  // A script that uses the default client and does not shut it down itself gets the shutdown appended.
  const usesClient = /from '\.\/src\/(index|client)\.ts'/.test(b.code)
  const closes = /disconnect\(|pool\.end\(/.test(b.code)
  const code = usesClient && !closes ? `${b.code}\nimport { disconnect as __disconnect } from './src/index.ts'\nawait __disconnect()\n` : b.code
  const file = path.join(ROOT, `.docs-snippet-${randomBytes(4).toString('hex')}.ts`)
  writeFileSync(file, code)
  try {
    // After the script's last statement, only handles it left open can keep the process alive.
    const main = `await import(${JSON.stringify(pathToFileURL(file).href)}); setTimeout(() => { console.error('still running ${EXIT_GRACE_MS} ms after its last statement: something (a pool?) was left open'); process.exit(99) }, ${EXIT_GRACE_MS}).unref()`
    return await runProcess(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', main], { cwd: ROOT, env, input: '', timeoutMs: 120_000 })
  } finally {
    rmSync(file, { force: true })
  }
}

const all = DOCS.map((f) => ({ file: f, blocks: blocksOf(f, readFileSync(path.join(ROOT, f), 'utf8')) }))

describe('documentation snippets', () => {
  let seeded: Awaited<ReturnType<typeof seededTemplate>>
  before(async () => {
    seeded = await seededTemplate('docs')
  })
  after(async () => {
    await seeded?.drop()
  })

  test('every block that does not run says why, and the README and each guide run at least one', () => {
    for (const { blocks } of all) for (const b of blocks) if (b.noRun !== undefined) assert.ok(b.noRun.length >= 10, `${b.file}:${b.line}: say why it cannot run`)
    for (const f of ['README.md', 'docs/cli.md', 'docs/client.md', 'docs/performance.md']) {
      assert.ok(all.find((d) => d.file === f)!.blocks.some((b) => b.noRun === undefined), `${f} has a snippet that runs`)
    }
  })

  for (const { file, blocks } of all) {
    const runnable = blocks.filter((b) => b.noRun === undefined)
    if (runnable.length === 0) continue
    test(`${file}: ${runnable.length} snippet(s) run and print what they say`, async () => {
      for (const b of runnable) {
        const db = await seeded.copy()
        try {
          const r = await runBlock(b, db.url)
          const where = `${b.file}:${b.line} (${b.lang})`
          assert.equal(r.code, 0, `${where} failed:\n${b.code}\n${r.stdout}\n${r.stderr}`)
          const printed = r.stdout.split('\n').map((l) => l.trim())
          let at = 0
          for (const want of expectedLines(b)) {
            const found = printed.indexOf(want, at)
            assert.ok(found >= 0, `${where}: expected \`${want}\` (after line ${at}) in its output:\n${r.stdout}`)
            at = found + 1
          }
        } finally {
          await db.drop()
        }
      }
    })
  }
})
