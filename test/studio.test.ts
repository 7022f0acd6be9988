// Prisma Studio, as a person uses it: the real `npx prisma studio` on a
// migrated and seeded database, opened in headless Chromium. Checks that every
// table of the schema is listed and that a subscriber's row shows up.
// Needs /usr/bin/chromium (scripts/install-browser.sh); skipped without it
// only outside CI.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import type { Locator, Page } from 'playwright-core'

import { browserSkipReason, freePort, launchBrowser, startServer, type Browser, type Server } from './helpers/browser.ts'
import { createTestDatabase, query, type TestDatabase } from './helpers/db.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const SCREENSHOT = join(ROOT, 'test/.artifacts/studio.png')

// The five core tables. Studio lists database tables (the models' @@map
// names), so the full expected list is read from the schema.
const CORE_TABLES = ['users', 'whatsapp_groups', 'subscribers', 'messages', 'campaigns']
const SUBSCRIBERS_TABLE = 'subscribers'

const SUBSCRIBERS = [
  { phone: '+14155550101', name: 'Amina Rahman', tags: ['vip', 'karachi'] },
  { phone: '+14155550102', name: 'Bilal Qureshi', tags: ['newsletter'] },
  { phone: '+14155550103', name: 'Chen Wei', tags: ['vip', 'beta'] },
]

/** model name -> table name (its @@map, else the model name), from prisma/schema.prisma. */
function schemaTables(): Map<string, string> {
  const schema = readFileSync(join(ROOT, 'prisma/schema.prisma'), 'utf8')
  const tables = new Map<string, string>()
  for (const m of schema.matchAll(/^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm)) {
    const [, model, body] = m
    if (!model || body === undefined) continue
    tables.set(model, /@@map\(\s*"([^"]+)"\s*\)/.exec(body)?.[1] ?? model)
  }
  return tables
}

/**
 * Scrolls until `target` lies wholly inside the viewport. Studio's grid renders
 * columns lazily and remounts cells while it scrolls, so one scroll is not
 * enough: retry until the cell that is there after the scroll is on screen.
 */
async function scrollIntoView(page: Page, target: Locator, timeoutMs: number): Promise<void> {
  const viewport = page.viewportSize()
  assert.ok(viewport)
  const deadline = Date.now() + timeoutMs
  let box: Awaited<ReturnType<Locator['boundingBox']>> = null
  while (Date.now() < deadline) {
    try {
      await target.scrollIntoViewIfNeeded({ timeout: 2_000 })
      box = await target.boundingBox({ timeout: 2_000 })
    } catch {
      box = null // detached by a re-render mid-scroll: try again
    }
    if (box && box.x >= 0 && box.y >= 0 && box.x + box.width <= viewport.width && box.y + box.height <= viewport.height) return
    await page.waitForTimeout(200)
  }
  assert.fail(`${target} is not on screen after ${timeoutMs} ms (last box: ${JSON.stringify(box)})`)
}

/** Scrolls the grid at `at` (a point on screen) to the right until `target` is rendered. */
async function scrollRightUntil(page: Page, at: { x: number; y: number }, target: Locator, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while ((await target.count()) === 0) {
    if (Date.now() > deadline) assert.fail(`${target} is not rendered after scrolling right for ${timeoutMs} ms`)
    await page.mouse.move(at.x, at.y)
    await page.mouse.wheel(400, 0)
    await page.waitForTimeout(150)
  }
}

/** Runs a command to completion; resolves with its exit code and output. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, output }))
  })
}

// Runs without a browser too: the browser tests below rely on this mapping.
test('the schema maps the five core models to their tables', () => {
  const tables = [...schemaTables().values()]
  for (const table of CORE_TABLES) assert.ok(tables.includes(table), `no model in prisma/schema.prisma is mapped to table "${table}"`)
})

describe('Prisma Studio in headless Chromium', { skip: browserSkipReason(), concurrency: false }, () => {
  const tables = schemaTables()

  let db: TestDatabase | undefined
  let studio: Server | undefined
  let browser: Browser | undefined
  let studioUrl = ''

  before(async () => {
    // The browser first: without one (CI), fail before the slower set-up.
    browser = await launchBrowser({ width: 1600, height: 900 })
    db = await createTestDatabase('studio')
    // DATABASE_URL is what prisma.config.ts reads; CHECKPOINT_DISABLE keeps the
    // CLI from calling Prisma's update check over a network we do not have.
    const env = { ...process.env, DATABASE_URL: db.url, CHECKPOINT_DISABLE: '1', BROWSER: 'none' }

    const deploy = await run('npx', ['prisma', 'migrate', 'deploy'], env)
    assert.equal(deploy.code, 0, `prisma migrate deploy failed:\n${deploy.output}`)

    // Plain SQL, not the seeds module: this test pins what it looks for.
    const [user] = await query<{ id: number }>(
      db.url,
      `INSERT INTO users (email, name, password_hash, role) VALUES ($1, $2, $3, 'admin') RETURNING id`,
      ['studio.admin@example.com', 'Studio Admin', 'scrypt$16384$8$1$c3R1ZGlvc2FsdA==$c3R1ZGlvaGFzaA=='],
    )
    const [group] = await query<{ id: number }>(
      db.url,
      `INSERT INTO whatsapp_groups (whatsapp_group_id, name) VALUES ($1, $2) RETURNING id`,
      ['120363000000000001@g.us', 'Studio Test Group'],
    )
    assert.ok(user && group)
    await query(db.url, `INSERT INTO group_admins (group_id, user_id) VALUES ($1, $2)`, [group.id, user.id])
    for (const s of SUBSCRIBERS) {
      await query(
        db.url,
        `WITH s AS (
           INSERT INTO subscribers (phone, name, tags, opt_status, opted_in_at, opt_in_method)
           VALUES ($1, $2, $3, 'opted_in', now(), 'web_form') RETURNING id
         )
         INSERT INTO group_members (group_id, subscriber_id) SELECT $4, id FROM s`,
        [s.phone, s.name, s.tags, group.id],
      )
    }

    const port = await freePort()
    studio = await startServer('npx', ['prisma', 'studio', '--port', String(port), '--browser', 'none'], {
      cwd: ROOT,
      env,
      port,
      timeoutMs: 90_000,
    })
    studioUrl = `http://localhost:${port}`
  })

  after(async () => {
    // Each step runs even if an earlier one fails, so nothing is left running.
    const errors: unknown[] = []
    for (const step of [() => browser?.close(), () => studio?.stop(), () => db?.drop()]) {
      try {
        await step()
      } catch (err) {
        errors.push(err)
      }
    }
    if (errors.length) throw new AggregateError(errors, 'studio test cleanup failed')
  })

  /** Opens Studio and waits until its table list has loaded; returns the list. */
  async function openStudio(page: Page): Promise<Locator> {
    await page.goto(studioUrl, { waitUntil: 'domcontentloaded' })
    const nav = page.getByRole('navigation', { name: 'Tables' })
    await nav.getByRole('link', { name: SUBSCRIBERS_TABLE, exact: true }).waitFor({ timeout: 60_000 })
    return nav
  }

  test('Studio announces its URL and lists every table of the schema', { timeout: 120_000 }, async (t) => {
    assert.ok(studio && browser)
    // The port can answer before Studio's banner reaches our pipe: wait for it (10 s at most).
    const banner = new RegExp(`Prisma Studio is running at: ${studioUrl.replace(/[.:/]/g, '\\$&')}`)
    for (let i = 0; i < 100 && !banner.test(studio.output()); i++) await new Promise((r) => setTimeout(r, 100))
    assert.match(studio.output(), banner)
    const nav = await openStudio(browser.page)
    const listed = (await nav.getByRole('link').allInnerTexts()).map((t) => t.trim()).sort()
    // Studio lists plain tables and views (relkind r, v), never a partitioned
    // table (p): `messages` is not there, each of its partitions is, and so
    // are the two lookup tables that keep its rules (docs/partitioning.md).
    const partitions = await query<{ name: string }>(
      db!.url,
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'messages'::regclass`,
    )
    assert.ok(partitions.length >= 1, 'migrate deploy made no partition of messages')
    const expected = [
      ...new Set([
        ...[...tables.values()].filter((t) => t !== 'messages'),
        '_prisma_migrations',
        'campaign_recipients',
        'message_whatsapp_ids',
        ...partitions.map((p) => p.name),
      ]),
    ].sort()
    assert.deepEqual(listed, expected)
    for (const table of CORE_TABLES.filter((t) => t !== 'messages')) assert.ok(listed.includes(table), `Studio does not list "${table}"`)
    if (browser.blocked.length) t.diagnostic(`blocked off-machine requests from the page: ${[...new Set(browser.blocked)].join(', ')}`)
  })

  test("a subscriber's row is visible after clicking the subscribers table", { timeout: 120_000 }, async () => {
    assert.ok(browser)
    const { page } = browser
    const table = SUBSCRIBERS_TABLE
    const nav = await openStudio(page)
    await nav.getByRole('link', { name: table, exact: true }).click()
    await page.waitForURL((u) => new URLSearchParams(u.hash.slice(1)).get('table') === table, { timeout: 15_000 })
    // The sidebar marks the open table a moment after the URL changes: wait for it.
    const active = nav.locator('a[data-active="true"]')
    await active.filter({ hasText: table }).waitFor({ timeout: 15_000 })
    assert.deepEqual((await active.allInnerTexts()).map((t) => t.trim()), [table])

    // Studio's grid renders only the columns on screen, in alphabetical order
    // after id: name first, then phone, then tags further right.
    for (const s of SUBSCRIBERS) await page.getByText(s.name, { exact: true }).waitFor({ state: 'visible', timeout: 30_000 })
    // A point inside the grid, on the first row, mid-screen: cells come and go
    // while it scrolls, the point stays over the grid.
    const row = await page.getByText(SUBSCRIBERS[0]!.name, { exact: true }).boundingBox()
    assert.ok(row)
    const inGrid = { x: (page.viewportSize()?.width ?? 1600) / 2, y: row.y + row.height / 2 }
    const phone = page.getByText(SUBSCRIBERS[0]!.phone, { exact: true })
    await scrollRightUntil(page, inGrid, phone, 15_000)
    for (const s of SUBSCRIBERS) {
      const cell = page.getByText(s.phone, { exact: true })
      await cell.waitFor({ state: 'visible', timeout: 5_000 })
      assert.match((await cell.innerText()).trim(), /^\+[1-9][0-9]{7,14}$/)
    }
    // Exactly the seeded rows: no duplicates, nothing from another table.
    assert.equal(await page.getByText('+1415555010', { exact: false }).count(), SUBSCRIBERS.length)
    // text[] cells list their elements, each quoted.
    await scrollRightUntil(page, inGrid, page.getByText('"vip"').first(), 15_000)
    for (const tag of new Set(SUBSCRIBERS.flatMap((s) => s.tags))) {
      assert.ok((await page.getByText(`"${tag}"`).count()) >= 1, `tag "${tag}" is not shown`)
    }

    // Bring the phone column back into view for the screenshot.
    await scrollIntoView(page, phone, 15_000)

    mkdirSync(dirname(SCREENSHOT), { recursive: true })
    await page.screenshot({ path: SCREENSHOT })
    assert.deepEqual(browser.pageErrors, [], 'uncaught errors in the Studio page')
  })
})
