-- Webhooks: a user's endpoints, told of their videos' events by signed POSTs.
--
-- An event becomes one delivery per subscribed endpoint in the same transaction as the video
-- change that caused it (the trigger below), so no event is lost to a crash and none is made
-- for a change that rolled back. Each delivery is sent by a `webhook` job on the `api` queue:
-- the API's worker sends it (the processors' network stays closed), retried with backoff for a
-- day. Deliveries name their video without a foreign key: they outlive it (`video.deleted`).

-- Which workers claim a job: the processors (`processor`) or the API's webhook sender (`api`).
-- The claim takes one queue only, through indexes that lead with it.
alter table jobs add column queue text not null default 'processor'
    check (queue in ('processor', 'api'));
alter table jobs drop constraint jobs_kind_check;
alter table jobs add constraint jobs_kind_check
    check (kind in ('transcode', 'ladder', 'republish', 'webhook'));

drop index jobs_queued_due;
create index jobs_queued_due on jobs (queue, priority, run_at) where state = 'queued';
drop index jobs_queued_fair;
create index jobs_queued_fair on jobs (queue, priority, owner_key, run_at) where state = 'queued';
drop index jobs_running_lease;
create index jobs_running_lease on jobs (queue, lease_expires_at) where state = 'running';

-- A job without a video counts against the share of the owner key it was given (a delivery:
-- its endpoint's), or its own.
create or replace function jobs_set_owner_key() returns trigger language plpgsql as $$
begin
    new.owner_key := coalesce(
        (select owner_id from videos where id = new.video_id), new.owner_key, new.id);
    return new;
end $$;

create table webhooks (
    id         uuid primary key,
    user_id    uuid not null references users (id) on delete cascade,
    url        text not null check (length(url) between 1 and 2048),
    events     text[] not null check (
        cardinality(events) > 0 and events <@ array['upload.completed', 'video.playable',
            'video.ready', 'video.failed', 'video.deleted']),
    -- The signing secret: kept as is (HMAC needs it), shown to its owner once.
    secret     text not null,
    created_at timestamptz not null default now()
);
create index webhooks_by_user on webhooks (user_id, created_at desc, id desc);

create table webhook_deliveries (
    id              uuid primary key,
    webhook_id      uuid not null references webhooks (id) on delete cascade,
    event           text not null,
    video_id        uuid not null,
    -- What the video was, for `video.deleted` (the row is gone when the delivery is sent).
    video           jsonb,
    -- The payload, fixed by the first attempt: every retry sends the same bytes.
    body            text,
    -- The job sending it now; a redelivery gives it a new one.
    job_id          uuid not null unique,
    attempts        integer not null default 0,
    response_status integer,
    last_error      text,
    created_at      timestamptz not null default now(),
    last_attempt_at timestamptz
);
create index webhook_deliveries_by_hook on webhook_deliveries (webhook_id, created_at desc, id desc);
create index webhook_deliveries_old on webhook_deliveries (created_at);

-- The events a change of `old` into `new` makes (either may be null: insert, delete).
create function vodnest_video_events(old videos, new videos) returns text[]
language plpgsql immutable as $$
declare
    events text[] := '{}';
begin
    if new is null then
        return array['video.deleted'];
    end if;
    if old.status = 'awaiting_upload' and new.status in ('queued', 'processing', 'ready') then
        events := events || 'upload.completed'::text;
    end if;
    if new.playable and not coalesce(old.playable, false) then
        events := events || 'video.playable'::text;
    end if;
    if new.status = 'ready' and old.status is distinct from 'ready' then
        events := events || 'video.ready'::text;
    end if;
    if new.status = 'failed' and old.status is distinct from 'failed' then
        events := events || 'video.failed'::text;
    end if;
    return events;
end $$;

-- One delivery and one job per subscribed endpoint and event. The job's settings are those of
-- `JobKind::Webhook` (services/core/src/job_kind.rs); a test checks that they agree.
create function vodnest_enqueue_webhooks() returns trigger language plpgsql as $$
declare
    video videos := case when tg_op = 'DELETE' then old else new end;
    snapshot jsonb;
begin
    if not exists (select 1 from webhooks where user_id = video.owner_id) then
        return null;
    end if;
    if tg_op = 'DELETE' then
        snapshot := jsonb_build_object('id', old.id, 'title', old.title, 'status', old.status,
            'visibility', old.visibility, 'duration_s', old.duration_s,
            'created_at', old.created_at, 'deleted', true);
    end if;
    with due as (
        select w.id as webhook_id, e.event, gen_random_uuid() as delivery_id,
            gen_random_uuid() as job_id
        from webhooks w
        cross join unnest(vodnest_video_events(
            case when tg_op = 'INSERT' then null else old end,
            case when tg_op = 'DELETE' then null else new end)) as e(event)
        where w.user_id = video.owner_id and e.event = any(w.events)
    ), sent as (
        insert into jobs (id, kind, queue, priority, max_attempts, live_key, owner_key)
        select job_id, 'webhook', 'api', 0, 100, 'webhook-delivery:' || delivery_id, webhook_id
        from due
    )
    insert into webhook_deliveries (id, webhook_id, event, video_id, video, job_id)
    select delivery_id, webhook_id, event, video.id, snapshot, job_id from due;
    return null;
end $$;

create trigger videos_webhooks after insert or update of status, playable or delete on videos
    for each row execute function vodnest_enqueue_webhooks();
