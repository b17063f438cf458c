-- Chapters (issue 19): `chapters` is what players show, `[{"start_s", "title"}]` on the original
-- timeline; `chapters_set` says the owner set them with `PUT …/chapters`. While it is false the
-- API keeps `chapters` parsed from the description (on create and on each description edit).
-- The API checks each entry; the table only keeps the shape and a bound on the size.
alter table videos
    add column chapters jsonb not null default '[]'::jsonb
        check (jsonb_typeof(chapters) = 'array' and jsonb_array_length(chapters) <= 500),
    add column chapters_set boolean not null default false;
