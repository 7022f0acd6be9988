-- Data: without campaigns, the campaign ids that messages keep would point at nothing,
-- and applying this migration again could not add messages' foreign key. They are
-- cleared (the rollback reports how many).
UPDATE "messages" SET "campaign_id" = NULL WHERE "campaign_id" IS NOT NULL;

-- DropForeignKey
ALTER TABLE "messages" DROP CONSTRAINT "messages_campaign_id_fkey";

-- DropForeignKey
ALTER TABLE "campaigns" DROP CONSTRAINT "campaigns_owner_id_fkey";

-- DropForeignKey
ALTER TABLE "campaign_groups" DROP CONSTRAINT "campaign_groups_campaign_id_fkey";

-- DropForeignKey
ALTER TABLE "campaign_groups" DROP CONSTRAINT "campaign_groups_group_id_fkey";

-- DropTable
DROP TABLE "campaigns";

-- DropTable
DROP TABLE "campaign_groups";

-- DropEnum
DROP TYPE "campaign_status";

-- DropEnum
DROP TYPE "tag_match";

