-- Brings the column back, empty: a down migration cannot restore data that DROP COLUMN destroyed,
-- which is why this change is a contract migration and not an expand one.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS legacy_note text;
