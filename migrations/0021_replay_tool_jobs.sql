-- The job kinds of the replay tools (issue 19), declared once so that the migrations that add
-- their tables need not each rewrite this list: `download` (joins a rendition's segments into
-- one MP4), `poster` (a frame grab at a chosen time, and a clip's poster), `clip` (a precise
-- clip's source cut from its parent's output).
alter table jobs drop constraint jobs_kind_check;
alter table jobs add constraint jobs_kind_check
    check (kind in ('transcode', 'ladder', 'republish', 'webhook', 'chunk', 'stitch',
                    'download', 'poster', 'clip'));
