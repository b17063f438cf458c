-- Versioned output. Every processing run publishes below its own prefix,
-- `videos/{id}/{class}/{n}/`, where the class is `public` or `signed` (unlisted and private
-- videos: a CDN requires signatures by path pattern) and n counts the video's runs. Objects
-- under a version are never rewritten, so `immutable` caching holds.
--
-- `media_prefix` is the version players are given. A video's first run makes its version
-- current with its first segments (playable before ready); a re-run of a ready video becomes
-- current only in the statement that records its success, which retires the version it
-- replaces. A retired version is deleted once no cached copy or signed URL can still point at
-- it (the API's sweeper; the grace is its configuration). Videos published before versions
-- keep the old layout: their prefix is `videos/{id}/` until they are processed again.
alter table videos add column media_prefix text;
alter table videos add column media_versions int not null default 0;
update videos set media_prefix = 'videos/' || id || '/' where playable;

create table retired_media (
    prefix text primary key,
    video_id uuid not null,
    retired_at timestamptz not null default now()
);
create index retired_media_by_age on retired_media (retired_at);

-- Secret keys the API processes share (playback URL signatures): made by the first process
-- that needs one, read by the others.
create table signing_keys (
    name text primary key,
    key bytea not null check (length(key) >= 32),
    created_at timestamptz not null default now()
);

-- `republish`: a visibility change that moves a video between the public and the signed class
-- copies its current version into a new version of the other class (server-side copies; no
-- encode) and makes that current, as a re-run would.
alter table jobs drop constraint jobs_kind_check;
alter table jobs add constraint jobs_kind_check check (kind in ('transcode', 'ladder', 'republish'));
