DROP TABLE audit_log;
DROP TABLE usage_records;
DROP TABLE api_keys;
DROP TABLE users;
DROP TABLE orgs;
