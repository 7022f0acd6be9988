// Small helpers shared by the embedded-server modules.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { projectRoot } from '../config.ts'

export type Log = (line: string) => void

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export function errCode(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code
}

/** A path inside the project as relative, anything else as absolute. */
export function displayPath(p: string): string {
  const rel = path.relative(projectRoot(), p)
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return errCode(err) === 'EPERM'
  }
  // A killed process stays a zombie until its parent (init) reaps it.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3))
  } catch {
    return true // no /proc (macOS): trust kill(0)
  }
}
