-- Edits of a ready video (issue 19): a non-destructive trim and captions. What the owner asked
-- for is kept here; what players get is a revision: every change writes new objects into the
-- current version (`master-{k}.m3u8`, cut `{rendition}/index-{k}.m3u8`, `captions/...`) and
-- records the new master's key in the same transaction, so cached masters never lie and the
-- original `master.m3u8` stays as it was (removing the trim is a new revision without cuts).
--
-- `edit_revision` is k, the revision last written; every writer takes the video's advisory
-- lock (seed 2) first, so two edits never write the same k. `edited_master` is the full key
-- of revision k's master: it names its version, so once the processor makes another version
-- current it no longer applies (players get that version's `master.m3u8`) until the processor
-- writes the next revision there. `window_*`: the part of the original timeline the cut
-- playlists cover (segment-aligned), null when not trimmed.
alter table videos add column trim_start_s double precision;
alter table videos add column trim_end_s double precision;
alter table videos add constraint videos_trim_check check (
    (trim_start_s is null) = (trim_end_s is null)
    and (trim_start_s is null or (trim_start_s >= 0 and trim_start_s < trim_end_s)));
-- `[{"lang", "label", "source"}]`: `source` is the caption's WebVTT object, kept below
-- `videos/{id}/signed/captions/` (never served; each revision copies it into its version).
alter table videos add column captions jsonb not null default '[]'
    check (jsonb_typeof(captions) = 'array' and jsonb_array_length(captions) <= 20);
alter table videos add column edit_revision int not null default 0;
alter table videos add column edited_master text;
alter table videos add column window_start_s double precision;
alter table videos add column window_end_s double precision;
