-- Persistent packages per (user, language), keyed by normalized name, and the package
-- environments built from resolved sets: content-addressed, shared by every user.

create table package (
    user_id    text not null references app_user (user_id) on delete cascade,
    language   text not null,
    name       text not null,
    spec       text not null,
    added_at   bigint not null,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (user_id, language, name)
);

create table package_env (
    env_key      text primary key not null,
    language     text not null,
    status       text not null,
    error        text,
    size_bytes   bigint not null,
    created_at   bigint not null,
    updated_at   bigint not null,
    last_used_at bigint not null
);
create index package_env_last_used on package_env (last_used_at);
