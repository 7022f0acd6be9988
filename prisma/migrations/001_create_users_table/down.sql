-- DropTable
DROP TABLE "users";

-- DropEnum
DROP TYPE "user_role";

