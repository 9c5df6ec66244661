-- Email addresses find their record whatever their case (imports' default customer key):
-- `Ann@Example.com` is the customer `ann@example.com`, not a second one. Only ASCII letters fold
-- (COLLATE "C"), whatever the database's locale, as the hub folds the values it looks up.
CREATE INDEX records_customer_email_folded ON hub.records (lower((data->>'email_address') COLLATE "C")) WHERE type = 'customer';
DROP INDEX hub.records_customer_email;
