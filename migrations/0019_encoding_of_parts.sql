-- How far each video chunk of a split encode is (0..1), written by the processor running it
-- (`encoding_progress::record_part`), so that whichever part reports can tell the video how far
-- the whole encode is: the chunks' lengths weighted by what each has done.
alter table encode_chunks add column done double precision not null default 0
    check (done between 0 and 1);

-- A video's `encoding` describes running work, so it goes when that work ends, however it ends
-- (success, failure, retry, an expired lease, a cancel): a transcode, a ladder or a stitch that
-- stops running, and a chunk that fails for good or is canceled (the encode ends with it; a
-- chunk's success or retry leaves the rest of the encode running). The processor's writes are
-- fenced on the job still running, so a late write cannot bring a cleared value back.
create function vodnest_clear_encoding() returns trigger language plpgsql as $$
begin
    update videos set encoding = null where id = new.video_id and encoding is not null;
    return null;
end $$;

create trigger jobs_clear_encoding after update of state on jobs
    for each row when (new.video_id is not null
        and new.kind in ('transcode', 'ladder', 'chunk', 'stitch')
        and ((old.state = 'running' and new.state <> 'running' and new.kind <> 'chunk')
             or (new.state in ('failed', 'canceled') and old.state in ('queued', 'running'))))
    execute function vodnest_clear_encoding();
