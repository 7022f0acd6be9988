-- DropForeignKey
ALTER TABLE "group_members" DROP CONSTRAINT "group_members_group_id_fkey";

-- DropForeignKey
ALTER TABLE "group_members" DROP CONSTRAINT "group_members_subscriber_id_fkey";

-- DropTable
DROP TABLE "subscribers";

-- DropTable
DROP TABLE "group_members";

-- DropEnum
DROP TYPE "opt_status";

-- DropEnum
DROP TYPE "consent_method";

