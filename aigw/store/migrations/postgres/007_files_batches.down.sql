ALTER TABLE usage_records DROP COLUMN batch_id;
DROP TABLE batch_lines;
DROP TABLE batches;
DROP TABLE files;
