-- Contract for orders 2.4.0: the old version read free-text notes from orders.legacy_note;
-- 2.4.0 reads them from order_notes, filled by an earlier release. This runs only after every
-- region runs 2.4.0, is promoted and has baked, so no running code reads the column any more.
ALTER TABLE orders DROP COLUMN IF EXISTS legacy_note;
