-- The job triggers' conditions move into WHEN clauses: Postgres then does not call the
-- PL/pgSQL functions at all for the rows that need no notification (every claim, heartbeat and
-- success), which the queue's throughput notices. Same notifications as before.

drop trigger jobs_notify on jobs;
create trigger jobs_notify after insert or update of state on jobs
    for each row when (new.state = 'queued')
    execute function vodnest_notify_job();

drop trigger jobs_stopped_notify on jobs;
create trigger jobs_stopped_notify after update of state on jobs
    for each row when (new.state = 'canceled' and old.state is distinct from 'canceled')
    execute function vodnest_notify_job_stopped();
create trigger jobs_deleted_notify after delete on jobs
    for each row execute function vodnest_notify_job_stopped();
