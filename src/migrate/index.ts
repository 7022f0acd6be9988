// Public API of the migration engine. Every function takes `{ url }` (and
// optionally `migrationsDir`, `logger`), returns a result and throws
// MigrateError; nothing here prints or exits.
export { MigrateError, isMigrateError, type MigrateErrorCode } from './errors.ts'
export { silentLogger, memoryLogger, type Logger } from './logger.ts'
export { defaultMigrationsDir, type CommonOptions } from './options.ts'
export { readMigrations, checksumOf, resolveMigrationName, type LocalMigration } from './files.ts'
export { deploy, type DeployResult, type AppliedMigration } from './deploy.ts'
export { status, type StatusReport } from './status.ts'
export { computeStatus, type HistoryStatus, type StatusEntry, type MigrationState } from './state.ts'
export { rollback, validateRollbackArgs, type RollbackOptions, type RollbackResult, type RollbackStep, type DataAtRisk } from './rollback.ts'
export { reset, type ResetResult } from './reset.ts'
export { runSeed } from './seed.ts'
export { verify, type VerifyResult, type MigrationVerification } from './verify.ts'
export { snapshotCatalog, diffCatalogs, describeDifference, type CatalogSnapshot, type CatalogDifference, type CatalogObject } from './catalog.ts'
export { createMigration, validateMigrationName, nextMigrationName, type CreateOptions, type CreateResult } from './create.ts'
export { checkConnection, type ConnectionCheck } from './check.ts'
export { PRISMA_ADVISORY_LOCK_ID } from './lock.ts'
export { parseTarget } from './connection.ts'
