-- 0010 billing: the link from an account to its customer at the payment provider (Stripe).
-- stripe_customer is the last customer record (sources, subscriptions) the hub fetched,
-- so readers such as the upgrades code need not call the provider.

ALTER TABLE accounts ADD COLUMN stripe_customer_id text UNIQUE;
ALTER TABLE accounts ADD COLUMN stripe_customer jsonb;
