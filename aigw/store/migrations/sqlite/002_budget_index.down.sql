DROP INDEX usage_user_ts;
