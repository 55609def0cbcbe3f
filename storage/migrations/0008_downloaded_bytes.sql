-- The size of the bot's own copy of a finished video, recorded once the download is complete:
-- a delivery that has to wait (the platform down, retries) posts that copy instead of
-- fetching the provider's URL again, which some providers delete within the hour. NULL: no
-- complete copy was recorded (every job from before this version), so it is downloaded.
ALTER TABLE jobs ADD COLUMN downloaded_bytes INTEGER;
