-- The upload sweeper looks for uploads left unfinished past their deadline.
create index videos_awaiting_upload_expiry on videos (upload_expires_at)
    where status = 'awaiting_upload';
