// The library reports progress through an injected logger (one line per
// call, no trailing newline) so the CLI decides how lines look and tests can
// read exact output.
export interface Logger {
  info(line: string): void
  warn(line: string): void
}

export const silentLogger: Logger = { info() {}, warn() {} }

/** Collects lines; handy for in-process callers and tests. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = []
  return { lines, info: (l) => void lines.push(l), warn: (l) => void lines.push(`warning: ${l}`) }
}
