-- Reserved for the budgets branch's migration (kept so that this branch's numbers run
-- without a gap); drop this file at merge.
SELECT 1;
