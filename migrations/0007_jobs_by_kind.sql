-- The jobs table serves many kinds of work (chunks of one video, downloads beside a ladder,
-- webhook deliveries tied to no video). What used to hold for every job is now a property of
-- its kind, set by the queue from `JobKind` (services/core/src/job_kind.rs) when it inserts:
-- - `live_key`: no two live jobs share a key (was: one live job per video). Kinds that may run
--   many at once leave it null.
-- - `priority`: the claim takes lower classes first (work that makes a video playable or ready
--   before work that improves one people already watch), then the earliest due.
-- - `max_attempts`: per kind (the backoff is computed from the kind as well).
-- - `video_id` may be null: a job need not be about a video.

alter table jobs alter column video_id drop not null;
alter table jobs add column priority smallint not null default 0;
alter table jobs add column live_key text;

update jobs set live_key = 'video-pipeline:' || video_id where state in ('queued', 'running');
update jobs set priority = 1 where kind = 'ladder';

drop index jobs_one_live_per_video;
create unique index jobs_one_live_per_key on jobs (live_key)
    where state in ('queued', 'running') and live_key is not null;

-- The claim walks this index in order and stops after the rows it needs.
drop index jobs_queued_due;
create index jobs_queued_due on jobs (priority, run_at) where state = 'queued';
