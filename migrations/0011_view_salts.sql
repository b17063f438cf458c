-- A random salt per day for the viewer digests of `video_views` (migration 0009): a digest is
-- SHA-256 over the day's salt, the day, the client address and the user agent. Once the day's
-- rows and its salt are swept, nothing can link a digest back to an address, not even by
-- trying every IPv4 address. Every API process reads the same salt, so a viewer counts once
-- whichever process served them.
create table view_salts (
    day     date primary key,
    salt    bytea not null check (length(salt) = 32)
);
