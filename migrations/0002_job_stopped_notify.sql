-- A job that is canceled, or deleted with its video, NOTIFYs `vodnest_job_stopped` with its id,
-- so the processor running it stops ffmpeg at once instead of at its next heartbeat.

create or replace function vodnest_notify_job_stopped() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        perform pg_notify('vodnest_job_stopped', old.id::text);
        return old;
    end if;
    if new.state = 'canceled' and old.state is distinct from 'canceled' then
        perform pg_notify('vodnest_job_stopped', new.id::text);
    end if;
    return new;
end $$;

create trigger jobs_stopped_notify after update of state or delete on jobs
    for each row execute function vodnest_notify_job_stopped();
