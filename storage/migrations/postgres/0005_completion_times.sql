-- How long each model takes (issues 17 and 18): when a job reached the provider and when the
-- provider was seen done with it, so the poller can follow the model's completion times and
-- cards can say "usually 1–3 min". NULL: not yet, or a job from before this version.
ALTER TABLE jobs ADD COLUMN submitted_at double precision;
ALTER TABLE jobs ADD COLUMN provider_done_at double precision;
CREATE INDEX jobs_model_done ON jobs (model, provider_done_at) WHERE provider_done_at IS NOT NULL;
