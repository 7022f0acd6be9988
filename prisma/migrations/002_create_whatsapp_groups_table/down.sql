-- DropForeignKey
ALTER TABLE "group_admins" DROP CONSTRAINT "group_admins_group_id_fkey";

-- DropForeignKey
ALTER TABLE "group_admins" DROP CONSTRAINT "group_admins_user_id_fkey";

-- DropTable
DROP TABLE "whatsapp_groups";

-- DropTable
DROP TABLE "group_admins";

