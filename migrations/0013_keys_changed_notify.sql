-- The API keeps the callers of recently used keys in memory so that a request with a key costs
-- no extra round trip. Every change that can take rights away NOTIFYs `vodnest_keys_changed`
-- and every API process empties its cache on it (and whenever its LISTEN connection comes
-- back, since a notification may have been missed meanwhile). Stamping `last_used_at` is not
-- such a change.

create or replace function vodnest_notify_keys_changed() returns trigger language plpgsql as $$
begin
    perform pg_notify('vodnest_keys_changed', '');
    return null;
end $$;

create trigger api_tokens_revoked after delete on api_tokens
    for each statement execute function vodnest_notify_keys_changed();
create trigger api_tokens_rights_changed after update of scopes, expires_at, user_id, token_hash
    on api_tokens for each statement execute function vodnest_notify_keys_changed();
create trigger users_removed after delete on users
    for each statement execute function vodnest_notify_keys_changed();
create trigger users_role_changed after update of role on users
    for each statement execute function vodnest_notify_keys_changed();
