-- Closest to completion first (issue 17): when a polled job will likely be done at its
-- provider, from its model's completion times and the time it has already run (bot.polling).
-- Due jobs are claimed in this order (`due_at` for jobs without it), so that when the status
-- budget is short the polls go to the jobs most likely to be finished. NULL: no estimate.
ALTER TABLE jobs ADD COLUMN likely_done_at double precision;
