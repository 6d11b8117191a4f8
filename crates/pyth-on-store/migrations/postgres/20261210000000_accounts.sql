-- Accounts and operators: a role per user (`user` or `admin`), a disabled mark (a disabled
-- user's keys and tokens are refused on every node at their next request), the user's default
-- for secrets a run does not name (`all` or `none`), where each refresh token was issued (the
-- sign-ins list), and single-use invitations for the `invite` registration mode (only a hash
-- of each code is kept).

alter table app_user add column role text not null default 'user';
alter table app_user add column disabled_at bigint;
alter table app_user add column secrets_default text not null default 'all';

alter table refresh_token add column ip text;
alter table refresh_token add column user_agent text;

create table invitation (
    invitation_id uuid not null,
    code_hash     bytea not null,
    created_by    uuid not null,
    note          text not null,
    created_at    bigint not null,
    updated_at    bigint not null,
    expires_at    bigint not null,
    used_at       bigint,
    used_by       uuid,
    constraint invitation_pkey primary key (invitation_id)
);
create unique index invitation_code on invitation (code_hash);
