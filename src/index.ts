// The database layer's public surface: the client and its pool, the hot-path API bound to
// both (src/api, see docs/performance.md), the generated model types and enums, and the
// password/token helpers for the users table.
export { api, disconnect, pool, prisma } from './client.ts'
export * from './api/index.ts'
export * from './generated/prisma/client.ts'
export { DEFAULT_SCRYPT_PARAMS, createToken, hashPassword, hashToken, needsRehash, normalizeEmail, verifyPassword, type ScryptParams } from './password.ts'
