-- Deleting a video NOTIFYs its subscribers too (until now only inserts and updates did), with
-- `deleted: true`, so a watch page or a CLI following it learns at once instead of waiting for
-- its next snapshot.
create or replace function vodnest_notify_video_deleted() returns trigger language plpgsql as $$
begin
    perform pg_notify('vodnest_video_events', json_build_object(
        'id', old.id,
        'status', old.status,
        'progress', old.progress,
        'playable', false,
        'stage', null,
        'error', null,
        'deleted', true
    )::text);
    return old;
end $$;

create trigger videos_deleted_notify after delete on videos
    for each row execute function vodnest_notify_video_deleted();
