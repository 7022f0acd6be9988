-- CreateEnum
CREATE TYPE "opt_status" AS ENUM ('pending', 'opted_in', 'opted_out');

-- CreateEnum
CREATE TYPE "consent_method" AS ENUM ('web_form', 'whatsapp_keyword', 'qr_code', 'import', 'api', 'manual');

-- CreateTable
CREATE TABLE "subscribers" (
    "id" SERIAL NOT NULL,
    "phone" VARCHAR(16) NOT NULL,
    "name" VARCHAR(255),
    "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "attributes" JSONB NOT NULL DEFAULT '{}',
    "opt_status" "opt_status" NOT NULL DEFAULT 'pending',
    "opted_in_at" TIMESTAMPTZ(3),
    "opt_in_method" "consent_method",
    "opted_out_at" TIMESTAMPTZ(3),
    "opt_out_method" "consent_method",
    "opt_out_reason" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "subscribers_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "group_members" (
    "group_id" INTEGER NOT NULL,
    "subscriber_id" INTEGER NOT NULL,
    "joined_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "group_members_pkey" PRIMARY KEY ("group_id","subscriber_id")
);

-- CreateIndex
CREATE INDEX "subscribers_tags_idx" ON "subscribers" USING GIN ("tags");

-- CreateIndex
CREATE UNIQUE INDEX "subscribers_phone_key" ON "subscribers"("phone");

-- CreateIndex
CREATE INDEX "group_members_subscriber_id_idx" ON "group_members"("subscriber_id");

-- AddForeignKey
ALTER TABLE "group_members" ADD CONSTRAINT "group_members_group_id_fkey" FOREIGN KEY ("group_id") REFERENCES "whatsapp_groups"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "group_members" ADD CONSTRAINT "group_members_subscriber_id_fkey" FOREIGN KEY ("subscriber_id") REFERENCES "subscribers"("id") ON DELETE CASCADE ON UPDATE CASCADE;

