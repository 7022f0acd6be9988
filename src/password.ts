// Password and token hashing for the users table, on Node's built-in scrypt.
//
// Stored format (self-describing, so costs can be raised later without breaking old hashes):
//   scrypt$N$r$p$<salt base64>$<hash base64>
// The users_password_hash_format_check constraint (migration 007) accepts only this format.
import { createHash, randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto'

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(password.normalize('NFC'), salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)))
  })
}

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number
  r: number
  p: number
}

/** OWASP's recommended scrypt parameters (128 MiB, about 0.2-0.4 s per hash). */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { N: 2 ** 17, r: 8, p: 1 }

const SALT_BYTES = 16
const KEY_BYTES = 32
const FORMAT = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/]+=*)\$([A-Za-z0-9+/]+=*)$/

// scrypt needs 128 * N * r bytes; Node refuses above `maxmem` (32 MiB by default).
const maxmem = ({ N, r }: ScryptParams) => 128 * N * r + 1024 * 1024

/** Hashes a password for users.password_hash. */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): Promise<string> {
  if (password.length === 0) throw new Error('hashPassword: the password is empty; ask the user for one')
  const salt = randomBytes(SALT_BYTES)
  const key = await scrypt(password, salt, KEY_BYTES, { ...params, maxmem: maxmem(params) })
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`
}

function parse(stored: string): { params: ScryptParams; salt: Buffer; key: Buffer } | null {
  const m = FORMAT.exec(stored)
  if (!m) return null
  return { params: { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) }, salt: Buffer.from(m[4]!, 'base64'), key: Buffer.from(m[5]!, 'base64') }
}

/** True when `password` matches `stored` (constant-time comparison). False for a malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored)
  if (!parsed || parsed.key.length === 0) return false
  const key = await scrypt(password, parsed.salt, parsed.key.length, { ...parsed.params, maxmem: maxmem(parsed.params) })
  return timingSafeEqual(key, parsed.key)
}

/** True when `stored` was made with weaker parameters than `params`: rehash after a successful login. */
export function needsRehash(stored: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): boolean {
  const parsed = parse(stored)
  if (!parsed) return true
  return parsed.params.N < params.N || parsed.params.r < params.r || parsed.params.p < params.p
}

/** SHA-256 hex of a token, as stored in *_token_hash columns (tokens are random, so no salt is needed). */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** A fresh email-verification or password-reset token: send `token`, store `tokenHash`. */
export function createToken(): { token: string; tokenHash: string } {
  const token = randomBytes(32).toString('base64url')
  return { token, tokenHash: hashToken(token) }
}

/** The form users.email is stored in (CHECK users_email_normalized_check): trimmed, lowercase. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase()
}
