// No test output may contain a password, failure diffs included: an assertion that
// compares strings holding a URL compares them here, and on failure shows them masked.
import assert from 'node:assert/strict'

/** `text` with the password of every postgres URL in it replaced by `****`. */
export function masked(text: string): string {
  return text.replace(/(postgres(?:ql)?:\/\/[^:/?#@\s]*:)[^@\s]+@/g, '$1****@')
}

/** `assert.equal(actual, expected)` for strings that hold a password: a failure shows both masked. */
export function equalSecret(actual: string, expected: string, message = 'values differ (shown with the password masked)'): void {
  if (actual === expected) return
  const a = masked(actual)
  const e = masked(expected)
  throw new assert.AssertionError({ message: a === e ? `${message}: they differ only in the password` : message, actual: a, expected: e, operator: 'strictEqual' })
}

/** `assert.match(masked(text), re)`: for output whose shape matters and whose password must not be shown. */
export function matchMasked(text: string, re: RegExp, message?: string): void {
  assert.match(masked(text), re, message)
}
