-- MP4 downloads (issue 19): one row per rendition of a video as of one master playlist. The
-- first request inserts the row with its `download` job in one transaction; the unique key
-- makes a second request while it is being prepared find this row instead of enqueueing
-- again. A download made from an older master (a re-processed video, a trim, a new caption)
-- is stale: its key no longer matches, so the next request makes a new one. The MP4 lives in
-- the version it was made from (`{version}downloads/…`): it goes when that version goes.
create table downloads (
    id            uuid primary key,
    video_id      uuid not null references videos (id) on delete cascade,
    rendition     text not null check (length(rendition) between 1 and 32),
    -- The master playlist it was made from: the version prefix and the master's revision.
    master_key    text not null,
    state         text not null default 'preparing'
                  check (state in ('preparing', 'ready', 'failed')),
    object_key    text not null,
    -- Bytes uploaded so far (progress), then the file's size.
    size_bytes    bigint not null default 0 check (size_bytes >= 0),
    job_id        uuid unique references jobs (id) on delete set null,
    -- Who asked first: the per-user limit on downloads being prepared counts these.
    requested_by  uuid references users (id) on delete set null,
    error         text,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    unique (video_id, rendition, master_key)
);
create index downloads_preparing_by_user on downloads (requested_by) where state = 'preparing';

create trigger downloads_updated_at before update on downloads
    for each row execute function vodnest_set_updated_at();

-- A download job that fails for good or is canceled (the queue's failure, an exhausted lease,
-- a cancel from gRPC) fails its download, with the job's reason: one place for every way a
-- job ends. The success is written by the job itself (it knows the size).
create function vodnest_end_download() returns trigger language plpgsql as $$
begin
    update downloads set state = 'failed',
        error = case when new.state = 'canceled' then 'the download was canceled'
            else coalesce(new.last_error, 'the download failed') end
    where job_id = new.id and state = 'preparing';
    return null;
end $$;

create trigger jobs_end_download after update of state on jobs
    for each row when (new.kind = 'download' and new.state in ('failed', 'canceled')
        and old.state in ('queued', 'running'))
    execute function vodnest_end_download();
