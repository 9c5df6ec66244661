-- Customer numbers are the hub's reference in other systems (an ERP's customerNo): a number
-- given with a new customer is checked against every customer's, and the hub's own sequence
-- skips numbers given that way. Not unique in the index: numbers stored twice before this
-- check stay readable rather than failing the migration.
CREATE INDEX records_customer_number ON hub.records ((data->>'customer_number')) WHERE type = 'customer';
