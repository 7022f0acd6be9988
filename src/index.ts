// The database layer's public surface: the client, the generated model types and enums,
// and the password/token helpers for the users table.
export { prisma } from './client.ts'
export * from './generated/prisma/client.ts'
export { DEFAULT_SCRYPT_PARAMS, createToken, hashPassword, hashToken, needsRehash, normalizeEmail, verifyPassword, type ScryptParams } from './password.ts'
export {
  E164,
  ImportValidationError,
  CampaignStateError,
  applyDeliveryStatus,
  audienceSize,
  campaignPerformance,
  fanOutCampaign,
  importSubscribers,
  markMessageSent,
  subscriberHistory,
  type CampaignPerformance,
  type HistoryCursor,
  type ImportResult,
  type SubscriberImportRow,
} from './broadcast.ts'
