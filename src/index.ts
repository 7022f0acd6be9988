// The database layer's public surface: the client and its pool, the hot-path API bound to
// both (src/api, see docs/performance.md), the generated model types and enums, and the
// password/token helpers for the users table.
export { api, disconnect, pool, prisma, replicas } from './client.ts'
export { type ReadRouter, type ReplicaStatus, withReadScope } from './db/replicas.ts'
export * from './api/index.ts'
export { NotFoundError, OptedOutError, ReferenceViolationError, toWatifyError, UniquenessError, ValidationError, WatifyError, type WatifyErrorDetails } from './domain/errors.ts'
export { type NormalizeOptions, normalizePhone } from './domain/normalize.ts'
export { withDomainRules } from './domain/extension.ts'
export { DATABASE_RULES, RAISED_CODES } from './domain/rules.ts'
export * from './generated/prisma/client.ts'
export { DEFAULT_SCRYPT_PARAMS, createToken, hashPassword, hashToken, needsRehash, normalizeEmail, verifyPassword, type ScryptParams } from './password.ts'
