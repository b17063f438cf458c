-- vodnest schema: videos, their processing jobs, API tokens and browser sessions.
-- Every change to a video NOTIFYs `vodnest_video_events`; every new runnable job NOTIFYs
-- `vodnest_jobs` so idle processors wake at once (they also poll, in case one is lost).

create or replace function vodnest_set_updated_at() returns trigger language plpgsql as $$
begin
    new.updated_at = now();
    return new;
end $$;

create table videos (
    id                uuid primary key,
    title             text not null,
    filename          text not null,
    content_type      text not null,
    status            text not null default 'awaiting_upload'
                      check (status in ('awaiting_upload', 'queued', 'processing', 'ready', 'failed')),
    stage             text,
    progress          double precision not null default 0 check (progress between 0 and 1),
    playable          boolean not null default false,
    error             text,
    size_bytes        bigint not null check (size_bytes > 0),
    duration_s        double precision,
    width             integer,
    height            integer,
    renditions        jsonb not null default '[]'::jsonb,
    upload_id         text,
    part_size         bigint not null,
    part_count        integer not null,
    upload_expires_at timestamptz not null,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now()
);

create index videos_newest_first on videos (created_at desc, id desc);

create trigger videos_updated_at before update on videos
    for each row execute function vodnest_set_updated_at();

-- The payload stays far below NOTIFY's 8000-byte limit: the error is truncated.
create or replace function vodnest_notify_video() returns trigger language plpgsql as $$
begin
    perform pg_notify('vodnest_video_events', json_build_object(
        'id', new.id,
        'status', new.status,
        'progress', new.progress,
        'playable', new.playable,
        'stage', new.stage,
        'error', left(new.error, 1000)
    )::text);
    return new;
end $$;

create trigger videos_notify after insert or update on videos
    for each row execute function vodnest_notify_video();

create table jobs (
    id               uuid primary key,
    video_id         uuid not null references videos (id) on delete cascade,
    state            text not null default 'queued'
                     check (state in ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    run_at           timestamptz not null default now(),
    attempt          integer not null default 0,
    max_attempts     integer not null default 3 check (max_attempts > 0),
    lease_expires_at timestamptz,
    worker_id        text,
    last_error       text,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    started_at       timestamptz,
    finished_at      timestamptz
);

-- The claim path: queued jobs by due time, and running jobs whose lease ran out.
create index jobs_queued_due on jobs (run_at) where state = 'queued';
create index jobs_running_lease on jobs (lease_expires_at) where state = 'running';
-- At most one live job per video: enqueueing twice (e.g. two concurrent completes) is a no-op.
create unique index jobs_one_live_per_video on jobs (video_id) where state in ('queued', 'running');
create index jobs_by_video on jobs (video_id, created_at desc);

create trigger jobs_updated_at before update on jobs
    for each row execute function vodnest_set_updated_at();

create or replace function vodnest_notify_job() returns trigger language plpgsql as $$
begin
    if new.state = 'queued' then
        perform pg_notify('vodnest_jobs', new.id::text);
    end if;
    return new;
end $$;

create trigger jobs_notify after insert or update of state on jobs
    for each row execute function vodnest_notify_job();

create table api_tokens (
    id          uuid primary key,
    name        text not null,
    token_hash  bytea not null unique,
    created_at  timestamptz not null default now(),
    revoked_at  timestamptz
);

create table sessions (
    id_hash     bytea primary key,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null
);

create index sessions_expiry on sessions (expires_at);
