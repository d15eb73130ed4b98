-- The audit log keeps the request id a client sent (request_id) and, beside it, the id this server
-- minted for the request, which a client cannot choose: correlation cannot be spoofed.
ALTER TABLE audit_log ADD COLUMN server_request_id text;
