-- DropForeignKey
ALTER TABLE "messages" DROP CONSTRAINT "messages_subscriber_id_fkey";

-- DropForeignKey
ALTER TABLE "messages" DROP CONSTRAINT "messages_group_id_fkey";

-- DropForeignKey
ALTER TABLE "messages" DROP CONSTRAINT "messages_sender_user_id_fkey";

-- DropTable
DROP TABLE "messages";

-- DropEnum
DROP TYPE "message_direction";

-- DropEnum
DROP TYPE "message_type";

-- DropEnum
DROP TYPE "message_status";

