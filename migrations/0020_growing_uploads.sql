-- Uploads of a file that is still being written (a recording): the client does not know the
-- size when it starts, so `size_bytes` is 0 until `complete` records the assembled object's
-- size, and `part_count` is the most parts the upload may have (10,000) until then.
alter table videos add column growing boolean not null default false;

alter table videos drop constraint videos_size_bytes_check;
alter table videos add constraint videos_size_bytes_check
    check (size_bytes > 0 or (growing and size_bytes = 0));
