-- The name people see on the sign-in pages ("Ledger"), apart from the operator's technical
-- name of the client ("ledger-web-prod"); NULL shows the technical name.
ALTER TABLE clients ADD COLUMN display_name TEXT;
