-- People: users with roles, API keys with scopes that belong to a user, sessions that belong to
-- a user, video ownership and visibility, view counts and the audit log.
--
-- `ADMIN_TOKEN` stays the bootstrap: it acts as the built-in `admin` user created here (a
-- fixed id, no password), which owns every video that existed before this migration.

create table users (
    id                  uuid primary key,
    username            text not null unique
                        check (username ~ '^[a-z0-9][a-z0-9_.-]{1,31}$'),
    role                text not null check (role in ('admin', 'creator')),
    -- Argon2id PHC string; null until the invitee sets one (and always for the built-in admin).
    password_hash       text,
    builtin             boolean not null default false,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now()
);

create trigger users_updated_at before update on users
    for each row execute function vodnest_set_updated_at();

insert into users (id, username, role, builtin)
values ('00000000-0000-0000-0000-000000000001', 'admin', 'admin', true);

-- An invite lets its holder set the password of a user that has none yet (or a new one, when
-- an admin re-sends it). Only the digest of its secret is stored.
create table invites (
    id_hash     bytea primary key,
    user_id     uuid not null references users (id) on delete cascade,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null
);

create index invites_by_user on invites (user_id);

-- API keys. The table keeps its old name; rows made before users existed were the admin's.
alter table api_tokens add column user_id uuid references users (id) on delete cascade;
update api_tokens set user_id = '00000000-0000-0000-0000-000000000001';
alter table api_tokens alter column user_id set not null;
alter table api_tokens add column scopes text[] not null default '{videos:read,videos:write,admin}'
    check (scopes <@ array['videos:read', 'videos:write', 'admin']::text[]);
alter table api_tokens alter column scopes drop default;
-- The first characters of the token, shown in lists so that a key can be recognised.
alter table api_tokens add column prefix text not null default '';
alter table api_tokens alter column prefix drop default;
alter table api_tokens add column expires_at timestamptz;
alter table api_tokens add column last_used_at timestamptz;
create index api_tokens_by_user on api_tokens (user_id, created_at desc);

-- A session belongs to a user and carries scopes: the user's role's when made with a password,
-- the key's when made by signing in with a key (and then it dies with the key).
delete from sessions;
alter table sessions add column user_id uuid not null references users (id) on delete cascade;
alter table sessions add column scopes text[] not null
    check (scopes <@ array['videos:read', 'videos:write', 'admin']::text[]);
alter table sessions add column key_id uuid references api_tokens (id) on delete cascade;
-- Set when the session was made with ADMIN_TOKEN itself: it dies when that token changes.
alter table sessions add column admin_token_hash bytea;
create index sessions_by_user on sessions (user_id);

-- Ownership and visibility. Deleting a user deletes or transfers their videos first (their
-- objects must go from S3 too), so the foreign key refuses to orphan them.
alter table videos add column owner_id uuid references users (id);
update videos set owner_id = '00000000-0000-0000-0000-000000000001';
alter table videos alter column owner_id set not null;
alter table videos add column visibility text not null default 'private'
    check (visibility in ('public', 'unlisted', 'private'));
alter table videos add column description text not null default ''
    check (length(description) <= 5000);
alter table videos add column view_count bigint not null default 0;

create index videos_by_owner on videos (owner_id, created_at desc, id desc);
create index videos_public_newest on videos (created_at desc, id desc)
    where visibility = 'public' and playable;

-- One row per viewer per video per day, keyed by a keyed digest that is useless a day later:
-- the view count needs no personal data. Old rows are swept.
create table video_views (
    video_id    uuid not null references videos (id) on delete cascade,
    day         date not null,
    viewer      bytea not null,
    primary key (video_id, day, viewer)
);

create index video_views_by_day on video_views (day);

-- Who did what from where. Never secrets. The actor is kept by name as well so that the log
-- survives the user's removal.
create table audit_events (
    id          bigint generated always as identity primary key,
    at          timestamptz not null default now(),
    actor_id    uuid,
    actor       text not null,
    action      text not null,
    target      text not null default '',
    ip          text
);

create index audit_events_newest on audit_events (id desc);

-- Failed sign-ins per (username, address): each one doubles the wait before the next try.
create table sign_in_failures (
    username        text not null,
    ip              text not null,
    failures        integer not null default 0,
    blocked_until   timestamptz not null,
    primary key (username, ip)
);
