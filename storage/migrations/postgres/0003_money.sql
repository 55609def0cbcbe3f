-- Money (issue 19): what each job costs at the provider, fixed at submit from the catalog's
-- price, in whole micro-dollars (1 USD = 1,000,000; never a float). NULL: the model's price
-- is not known. The ledger carries the same amount so that money limits are checked and
-- reserved in the same transaction as seconds; rows from before count nothing.
ALTER TABLE jobs ADD COLUMN cost_micro_usd bigint;
ALTER TABLE quota_ledger ADD COLUMN micro_usd bigint NOT NULL DEFAULT 0;
-- Money limits, in micro-dollars (US); NULL leaves the limit as it is, 0 is no money limit.
ALTER TABLE quota_overrides ADD COLUMN daily_micro_usd bigint;
ALTER TABLE quota_overrides ADD COLUMN monthly_micro_usd bigint;
