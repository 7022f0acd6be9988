-- Rollback: 006_add_updated_at_triggers
-- Returns the database to its state after 005: no updated_at triggers, no set_updated_at().

DROP TRIGGER campaigns_set_updated_at ON campaigns;
DROP TRIGGER messages_set_updated_at ON messages;
DROP TRIGGER subscribers_set_updated_at ON subscribers;
DROP TRIGGER whatsapp_groups_set_updated_at ON whatsapp_groups;
DROP TRIGGER users_set_updated_at ON users;

DROP FUNCTION set_updated_at();
