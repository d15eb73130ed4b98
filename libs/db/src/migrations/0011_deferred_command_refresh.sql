-- Deferred ota.install commands are published again to refresh their download URL (issue #9):
-- "due commands of terminal X" now also covers state 'deferred', so the pending index does too.
DROP INDEX commands_pending_sn_idx;
CREATE INDEX commands_pending_sn_idx ON commands (sn, created_at) WHERE state IN ('queued', 'sent', 'deferred');
