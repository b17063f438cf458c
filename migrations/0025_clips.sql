-- Clips (issue 19): a video cut from another one, and posters chosen by time or uploaded.
--
-- A clip records where it was cut from: `source_video_id` (no foreign key: the parent may be
-- deleted while the clip lives on) and the window of the parent's timeline it covers.
alter table videos add column source_video_id uuid;
alter table videos add column source_start_s float8;
alter table videos add column source_end_s float8;
-- The poster's object name in the current version when it is not `poster.jpg` (a frame grabbed
-- at a chosen time, or an uploaded image); `poster_time_s` the time a `poster` job grabs.
alter table videos add column poster_name text
    check (poster_name ~ '^poster(-[0-9a-z]{1,40})?\.(jpg|png)$');
alter table videos add column poster_time_s float8 check (poster_time_s >= 0);

-- An instant clip's playlists point into other videos' versions (its parent's) instead of
-- holding segments of its own. One row per (version of the referencing video, referenced
-- version prefix). A referenced prefix is never deleted: the sweeper leaves a retired version
-- alone while a row names it, and deleting a parent keeps the versions its clips reference
-- (recorded in `retired_media`, due at once, so the sweeper deletes them once the last
-- reference goes). A reference goes with its video (cascade) or with its version (the sweeper
-- deleting a retired version of the clip, or a failed republish removing its own).
create table media_references (
    video_id uuid not null references videos (id) on delete cascade,
    version text not null,
    target text not null,
    primary key (version, target)
);
create index media_references_by_target on media_references (target);
create index media_references_by_video on media_references (video_id);

-- A clip uploads nothing: an instant one adds no bytes at all (its segments are its parent's),
-- a precise one's size is that of the source the processor cuts for it.
alter table videos drop constraint videos_size_bytes_check;
alter table videos add constraint videos_size_bytes_check
    check (size_bytes > 0 or (growing and size_bytes = 0)
           or (source_video_id is not null and size_bytes >= 0));
