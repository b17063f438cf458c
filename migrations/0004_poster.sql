-- The processor writes `poster.jpg` (and later a storyboard) next to the HLS output; these say
-- whether they exist, so the API can hand out their URLs.
alter table videos add column has_poster boolean not null default false;
alter table videos add column has_storyboard boolean not null default false;
