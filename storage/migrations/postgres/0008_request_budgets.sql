-- Request budgets shared by every replica (issue 17): one pacer per provider and kind of
-- request (bot.budget.SharedPacer). `tat` is the theoretical time of the next request at the pace;
-- `factor` the pace a 429 left, as a share of the limit, coming back linearly from
-- `throttled_at`; nothing of this kind goes before `blocked_until` (a Retry-After). Each
-- reservation advances the row in one statement and writes where its batch began into
-- `granted_from` (NULL: refused), which its RETURNING reads back.
CREATE TABLE request_budgets (
    provider      text NOT NULL,
    kind          text NOT NULL,
    tat           double precision NOT NULL DEFAULT 0,
    blocked_until double precision NOT NULL DEFAULT 0,
    factor        double precision NOT NULL DEFAULT 1,
    throttled_at  double precision NOT NULL DEFAULT 0,
    granted_from  double precision,
    PRIMARY KEY (provider, kind)
);
