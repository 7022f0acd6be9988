// Headless Chromium for tests that look at a page as a person would.
// Debian's `chromium` package (scripts/install-browser.sh) driven by
// playwright-core: Playwright's own browser download cannot work on a machine
// that reaches nothing but the package registries.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { chromium, type BrowserContext, type Page } from 'playwright-core'

export const CHROMIUM_PATH = '/usr/bin/chromium'

// The background-networking, component-update and sync flags stop Chromium
// from phoning home at start-up: on this closed network those connections are
// refused, and the browser stalls or logs errors waiting for them.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox', // we run as root, where Chromium's sandbox refuses to start
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/**
 * Why a browser test must be skipped, or undefined when it must run.
 * Only a developer machine without Chromium skips; CI installs it with
 * scripts/install-browser.sh, so a missing browser there is a failure, not a skip.
 */
export function browserSkipReason(): string | undefined {
  if (existsSync(CHROMIUM_PATH)) return undefined
  if (process.env.CI) return undefined
  return `${CHROMIUM_PATH} is missing: run \`bash scripts/install-browser.sh\` (installs Debian's chromium package) to run this test`
}

export interface Browser {
  context: BrowserContext
  page: Page
  /** Requests the page tried to send off this machine (all blocked). */
  blocked: string[]
  /** Uncaught errors thrown in the page. */
  pageErrors: string[]
  close(): Promise<void>
}

/**
 * Starts Chromium with a fresh profile. Every request that is not to the
 * loopback interface is aborted: the page under test must work offline, and
 * nothing leaves the machine (Prisma Studio's page, for one, calls home).
 */
export async function launchBrowser(opts: { width?: number; height?: number } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} not found: run \`bash scripts/install-browser.sh\` first (CI must call it before the tests).`)
  }
  const userDataDir = mkdtempSync(join(tmpdir(), 'watify-chromium-'))
  let context: BrowserContext
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: opts.width ?? 1400, height: opts.height ?? 900 },
    })
  } catch (err) {
    rmSync(userDataDir, { recursive: true, force: true })
    throw err
  }
  const blocked: string[] = []
  const pageErrors: string[] = []
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url())
    if (['localhost', '127.0.0.1', '[::1]'].includes(url.hostname) || url.protocol === 'data:') return route.continue()
    blocked.push(url.origin)
    return route.abort('blockedbyclient')
  })
  const page = context.pages()[0] ?? (await context.newPage())
  page.on('pageerror', (err) => pageErrors.push(err.stack ?? String(err)))
  return {
    context,
    page,
    blocked,
    pageErrors,
    async close() {
      try {
        await context.close()
      } finally {
        rmSync(userDataDir, { recursive: true, force: true })
      }
    },
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))))
    })
  })
}

function canConnect(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host })
    socket.setTimeout(1000)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('timeout', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', () => resolve(false))
  })
}

export interface Server {
  child: ChildProcess
  /** stdout and stderr so far, interleaved. */
  output(): string
  /** Ends the whole process group (npx -> sh -> node) and waits until it is gone. */
  stop(): Promise<void>
}

/**
 * Spawns `command` in its own process group (so stop() can end the whole
 * tree with one signal) and waits until `port` accepts connections on
 * 127.0.0.1. Fails early, with the server's output, if it exits first.
 */
export async function startServer(
  command: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; port: number; timeoutMs: number },
): Promise<Server> {
  const child = spawn(command, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
  let exited: string | undefined
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = signal ? `signal ${signal}` : `code ${code}`
      resolve()
    })
    child.once('error', (err) => {
      exited = `spawn error: ${err.message}`
      resolve()
    })
  })
  const pid = child.pid

  const groupAlive = (): boolean => {
    if (pid === undefined) return false
    try {
      process.kill(-pid, 0)
      return true
    } catch {
      return false
    }
  }
  const signalGroup = (signal: NodeJS.Signals): void => {
    if (pid === undefined) return
    try {
      process.kill(-pid, signal)
    } catch {
      // ESRCH: the group is already gone
    }
  }
  const waitGone = async (ms: number): Promise<boolean> => {
    const until = Date.now() + ms
    while (groupAlive() && Date.now() < until) await new Promise((r) => setTimeout(r, 100))
    return !groupAlive()
  }
  const server: Server = {
    child,
    output: () => out,
    async stop() {
      signalGroup('SIGTERM')
      if (!(await waitGone(5000))) {
        signalGroup('SIGKILL')
        if (!(await waitGone(5000))) throw new Error(`process group ${pid} (${command} ${args.join(' ')}) survived SIGKILL`)
      }
      await Promise.race([exit, new Promise((r) => setTimeout(r, 1000))])
    },
  }

  const deadline = Date.now() + opts.timeoutMs
  for (;;) {
    if (exited !== undefined) {
      await server.stop()
      throw new Error(`${command} ${args.join(' ')} exited (${exited}) before listening on port ${opts.port}. Output:\n${out}`)
    }
    if (await canConnect(opts.port, '127.0.0.1')) return server
    if (Date.now() > deadline) {
      await server.stop()
      throw new Error(`${command} ${args.join(' ')} did not listen on 127.0.0.1:${opts.port} within ${opts.timeoutMs} ms. Output:\n${out}`)
    }
    await new Promise((r) => setTimeout(r, 250))
  }
}
