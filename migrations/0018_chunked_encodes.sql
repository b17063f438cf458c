-- Split-and-stitch encoding: a long encode becomes `chunk` jobs (consecutive time ranges of the
-- video rungs, and one `whole` part for what is made once per video: the audio, the poster, the
-- storyboard) that any processor runs, and one `stitch` job that writes the playlists once every
-- part has succeeded (services/core/src/chunks.rs).
--
-- The stitch is inserted with the parts, parked (`queued` with `run_at` at the sentinel
-- '9999-01-01': no claim takes it; a finite time, which every reader of `run_at` can decode), and holds the video's pipeline live key, so no second transcode starts meanwhile.
-- `remaining` counts the parts not yet succeeded; the queue's success statement decrements it
-- in the same statement that records the parts' successes, and the statement that brings it to
-- zero makes the stitch due. Row locks order concurrent statements, so exactly one sees zero.

alter table jobs drop constraint jobs_kind_check;
alter table jobs add constraint jobs_kind_check
    check (kind in ('transcode', 'ladder', 'republish', 'webhook', 'chunk', 'stitch'));

create table chunked_encodes (
    id            uuid primary key,
    video_id      uuid not null references videos (id) on delete cascade,
    -- The version the parts publish into, `videos/{id}/{class}/{n}/`.
    prefix        text not null,
    -- The stitch's success makes the video `ready` (a split transcode) or only adds the
    -- renditions to a video that already is (a split ladder).
    makes_ready   boolean not null,
    parts         integer not null check (parts > 0),
    remaining     integer not null check (remaining between 0 and parts),
    stitch_job_id uuid not null unique references jobs (id) on delete cascade,
    -- What the processor planned (renditions, ranges' facts): read by every part and the stitch.
    plan          jsonb not null,
    created_at    timestamptz not null default now()
);
create index chunked_encodes_by_video on chunked_encodes (video_id);

create table encode_chunks (
    job_id        uuid primary key references jobs (id) on delete cascade,
    encode_id     uuid not null references chunked_encodes (id) on delete cascade,
    -- 0, 1, 2... in time order; the `whole` part has none.
    idx           integer check (idx >= 0),
    part          text not null check (part in ('video', 'whole')),
    -- The range of the source it encodes, in seconds from its start; its first segment's number.
    start_s       double precision,
    end_s         double precision,
    first_segment integer,
    check ((part = 'video') = (idx is not null and start_s is not null and end_s > start_s
        and first_segment is not null)),
    unique (encode_id, part, idx)
);
create index encode_chunks_by_encode on encode_chunks (encode_id);

-- A part or the stitch that fails for good or is canceled ends the whole encode: the others are
-- canceled (their workers see it at the next heartbeat; the cancel notifies as any other) and,
-- for a split transcode, the video fails as an unsplit one would. One place for every way a
-- job ends: the queue's failure, an exhausted lease, a cancel from the API or gRPC.
create function vodnest_end_chunked_encode() returns trigger language plpgsql as $$
declare
    encode chunked_encodes;
begin
    select * into encode from chunked_encodes
    where stitch_job_id = new.id
        or id = (select encode_id from encode_chunks where job_id = new.id);
    if not found then
        return null;
    end if;
    update jobs set state = 'canceled', lease_expires_at = null, finished_at = now(),
        last_error = 'another part of the encode ended: ' || new.state
    where state in ('queued', 'running')
        and (id = encode.stitch_job_id
             or id in (select job_id from encode_chunks where encode_id = encode.id));
    if encode.makes_ready then
        update videos set status = 'failed', stage = null, playable = false,
            error = case when new.state = 'canceled' then 'processing was canceled'
                else coalesce(new.last_error, 'processing failed') end
        where id = encode.video_id and status <> 'ready';
    end if;
    return null;
end $$;

-- Only the job that ended first: the siblings it cancels do not run it again.
create trigger jobs_end_chunked_encode after update of state on jobs
    for each row when (new.kind in ('chunk', 'stitch') and new.state in ('failed', 'canceled')
        and old.state in ('queued', 'running') and pg_trigger_depth() = 0)
    execute function vodnest_end_chunked_encode();

-- A stitch coming due wakes idle processors, as a newly queued job does.
create trigger jobs_stitch_due_notify after update of run_at on jobs
    for each row when (new.kind = 'stitch' and new.state = 'queued'
        and old.run_at >= '9999-01-01' and new.run_at < '9999-01-01')
    execute function vodnest_notify_job();
