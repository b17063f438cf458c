-- What a job does. `transcode` turns the upload into HLS and makes the video `ready`. When the
-- upload could be copied into the top rendition (the remux fast path), that job publishes the
-- copy alone, so the video is watchable within seconds, and enqueues a `ladder` job in the same
-- statement that records its success: the ladder job encodes the lower rungs, the poster and
-- the storyboard, then publishes the full master playlist. A ladder job's failure or
-- cancellation leaves its (already watchable) video as it is.
alter table jobs add column kind text not null default 'transcode'
    check (kind in ('transcode', 'ladder'));
