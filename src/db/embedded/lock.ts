// An exclusive lock file while a process starts or stops the server, so that
// two commands run at once never start two servers on one data dir.
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import { errCode, isAlive, sleep } from './util.ts'

export async function withLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  const token = `${process.pid} ${Date.now()} ${randomBytes(6).toString('hex')}\n`
  const deadline = Date.now() + 180_000
  for (;;) {
    try {
      const fh = await fs.open(lockPath, 'wx', 0o600)
      try {
        await fh.writeFile(token)
      } finally {
        await fh.close()
      }
      break
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw new Error(`Cannot create the lock file ${lockPath}: ${(err as Error).message}`, { cause: err })
    }
    let held = ''
    try {
      held = await fs.readFile(lockPath, 'utf8')
    } catch {
      continue // released between our open and read
    }
    const [pidText, tsText] = held.split(' ')
    const holder = Number(pidText)
    const age = Date.now() - Number(tsText)
    // Written but not yet filled (empty) is a live holder; a dead pid, or a lock
    // older than 10 minutes (pid reused), is stale.
    const stale = held !== '' && (!Number.isInteger(holder) || !isAlive(holder) || !(age < 600_000))
    if (stale) {
      await breakStaleLock(lockPath, held)
      continue
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${lockPath} (held by process ${pidText}). If no other watify command is running, delete that file.`)
    }
    await sleep(40 + Math.random() * 60)
  }
  try {
    return await fn()
  } finally {
    try {
      if ((await fs.readFile(lockPath, 'utf8')) === token) await fs.unlink(lockPath)
    } catch {
      // already gone
    }
  }
}

/** Removes a stale lock without ever deleting a fresh one another process just took. */
async function breakStaleLock(lockPath: string, staleContent: string): Promise<void> {
  const aside = `${lockPath}.${process.pid}.${randomBytes(4).toString('hex')}`
  try {
    await fs.rename(lockPath, aside) // atomic: only one breaker gets this file
  } catch {
    return
  }
  const moved = await fs.readFile(aside, 'utf8').catch(() => '')
  if (moved !== staleContent) {
    // We took someone's fresh lock: put it back unless a newer one exists already.
    await fs.link(aside, lockPath).catch(() => undefined)
  }
  await fs.unlink(aside).catch(() => undefined)
}
