-- Initial schema. Timestamps are unix milliseconds, ids uuid. Constraint names are the ones
-- StoreError::Conflict reports.

create table app_user (
    user_id       uuid not null,
    email         text not null,
    password_hash text not null,
    created_at    bigint not null,
    updated_at    bigint not null,
    constraint user_pkey primary key (user_id)
);
create unique index user_email on app_user (email);

create table api_key (
    api_key_id   uuid not null,
    user_id      uuid not null references app_user (user_id) on delete cascade,
    name         text not null,
    prefix       text not null,
    key_hash     bytea not null,
    created_at   bigint not null,
    updated_at   bigint not null,
    last_used_at bigint,
    revoked_at   bigint,
    constraint api_key_pkey primary key (api_key_id)
);
create unique index api_key_hash on api_key (key_hash);
create index api_key_user on api_key (user_id, created_at);

create table refresh_token (
    refresh_token_id uuid not null,
    user_id          uuid not null references app_user (user_id) on delete cascade,
    family_id        uuid not null,
    token_hash       bytea not null,
    created_at       bigint not null,
    updated_at       bigint not null,
    expires_at       bigint not null,
    spent_at         bigint,
    revoked_at       bigint,
    constraint refresh_token_pkey primary key (refresh_token_id)
);
create unique index refresh_token_hash on refresh_token (token_hash);
create index refresh_token_family on refresh_token (family_id);

create table secret (
    user_id     uuid not null references app_user (user_id) on delete cascade,
    name        text not null,
    version     bigint not null,
    key_version bigint not null,
    wrapped_key bytea not null,
    nonce       bytea not null,
    ciphertext  bytea not null,
    created_at  bigint not null,
    updated_at  bigint not null,
    constraint secret_version primary key (user_id, name)
);

-- No foreign key to app_user: failures about unknown or deleted users are still recorded.
-- details is text, not jsonb, so it reads back byte-for-byte as hashed.
create table audit_entry (
    audit_entry_id uuid not null,
    user_id        uuid not null,
    seq            bigint not null,
    at             bigint not null,
    action         text not null,
    resource       text,
    outcome        text not null,
    ip             text,
    auth_method    text,
    api_key_id     uuid,
    details        text not null,
    prev_hash      bytea not null,
    hash           bytea not null,
    created_at     bigint not null,
    updated_at     bigint not null,
    constraint audit_entry_pkey primary key (audit_entry_id)
);
create unique index audit_entry_user_seq on audit_entry (user_id, seq);

create table rate_limit (
    rate_limit_key text not null,
    tat            bigint not null,
    created_at     bigint not null,
    updated_at     bigint not null,
    constraint rate_limit_pkey primary key (rate_limit_key)
);
create index rate_limit_tat on rate_limit (tat);
