CREATE INDEX usage_request ON usage_records(request_id);
