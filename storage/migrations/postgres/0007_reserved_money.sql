-- Reserved for the money branch's migration (kept so that this branch's numbers run
-- without a gap); drop this file at merge.
SELECT 1;
