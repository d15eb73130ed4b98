-- Ownership history is history: a provider emptied of terminals (moved away) and then deleted must
-- not be blocked by the rows that record where its terminals used to be.
ALTER TABLE terminal_provider_history DROP CONSTRAINT IF EXISTS terminal_provider_history_from_provider_id_fkey;
ALTER TABLE terminal_provider_history DROP CONSTRAINT IF EXISTS terminal_provider_history_to_provider_id_fkey;
