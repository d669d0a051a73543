DROP INDEX IF EXISTS usage_user_ts;
