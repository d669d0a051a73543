-- Budgets sum a key's or an org's spending over the current day or month.
CREATE INDEX usage_user_ts ON usage_records(user_id, ts);
