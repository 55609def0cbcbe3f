-- Reserved for the queue_cancel branch's migration (kept so that this branch's numbers run
-- without a gap); drop this file at merge.
SELECT 1;
