-- Renditions still being made for a video (a `ready` video's lower rungs, say): which ones,
-- the fraction of that work done and the seconds left (null when unknown). Null when nothing is
-- being made. The processor writes it about once a second (`encoding_progress::set_encoding`);
-- the video object shows it and websockets get it as `encoding` frames.
--
-- The CHECK keeps the shape the API reads (a malformed value would break every read of the
-- video) and the size small: the value rides in every NOTIFY of the video, whose payload must
-- stay under 8000 bytes with the error's 1000 characters (up to 6000 bytes as JSON) beside it.
alter table videos add column encoding jsonb check (encoding is null or (
    jsonb_typeof(encoding) = 'object'
    and octet_length(encoding::text) <= 1000
    and jsonb_typeof(encoding -> 'renditions') = 'array'
    and not jsonb_path_exists(encoding, '$.renditions[*] ? (@.type() != "string")')
    and jsonb_path_match(encoding, '$.progress.type() == "number" && $.progress >= 0 && $.progress <= 1')
    and coalesce(jsonb_typeof(encoding -> 'eta_s'), 'null') in ('null', 'number')));

-- As in 0001_init.sql, plus the encoding.
create or replace function vodnest_notify_video() returns trigger language plpgsql as $$
begin
    perform pg_notify('vodnest_video_events', json_build_object(
        'id', new.id,
        'status', new.status,
        'progress', new.progress,
        'playable', new.playable,
        'stage', new.stage,
        'error', left(new.error, 1000),
        'encoding', new.encoding
    )::text);
    return new;
end $$;
