-- The queue serves users fairly: within a priority class the claim prefers the jobs of the
-- owner with the least work running (counting the jobs of theirs it has already picked), so
-- one user's fifty uploads do not starve another user's one (services/core/src/queue.rs).
--
-- `owner_key` is whose share of the queue a job counts against: its video's owner, or the job
-- itself when it has no video. It is copied from the video so that the claim reads one table
-- through one index; the triggers below keep the copy right.

alter table jobs add column owner_key uuid;
update jobs j set owner_key = coalesce(
    (select v.owner_id from videos v where v.id = j.video_id), j.id);
alter table jobs alter column owner_key set not null;

create function jobs_set_owner_key() returns trigger language plpgsql as $$
begin
    new.owner_key := coalesce(
        (select owner_id from videos where id = new.video_id), new.id);
    return new;
end $$;

create trigger jobs_owner_key before insert on jobs
    for each row execute function jobs_set_owner_key();

-- A video given to someone else (a user removed with `transfer_to`) takes its live jobs along.
create function videos_move_owner_key() returns trigger language plpgsql as $$
begin
    update jobs set owner_key = new.owner_id
    where video_id = new.id and state in ('queued', 'running');
    return null;
end $$;

create trigger videos_owner_key after update of owner_id on videos
    for each row when (old.owner_id is distinct from new.owner_id)
    execute function videos_move_owner_key();

-- The claim steps from one (class, owner) to the next through this index (a skip scan: one
-- probe per owner with queued work, however many jobs each has), and reads each owner's
-- earliest due jobs from it. `jobs_queued_due` stays: when the fair picks are taken by a
-- concurrent claim, the claim falls back to walking it.
create index jobs_queued_fair on jobs (priority, owner_key, run_at) where state = 'queued';
-- How many jobs each owner has running.
create index jobs_running_by_owner on jobs (owner_key) where state = 'running';
