-- Per-user quotas: the operator's overrides of the server-wide defaults, and each user's usage
-- per UTC day (runs admitted, CPU milliseconds used), counted by every node in one statement so
-- that concurrent runs on any node never pass a quota together.
--
-- user_quota: one row per user with at least one override; a null column means "the server's
-- default" (its setting). A value of 0 means unlimited, as for the settings.
-- usage_day: `day` is the UTC day number (days since 1970-01-01); a row is created by the day's
-- first run. Old days are kept (a small row per user and active day) as usage history.

create table user_quota (
    user_id             text primary key not null references app_user (user_id) on delete cascade,
    runs_per_day        bigint,
    cpu_seconds_per_day bigint,
    sessions            bigint,
    storage_bytes       bigint,
    created_at          bigint not null,
    updated_at          bigint not null
);

create table usage_day (
    user_id    text not null references app_user (user_id) on delete cascade,
    day        bigint not null,
    runs       bigint not null,
    cpu_ms     bigint not null,
    updated_at bigint not null,
    primary key (user_id, day)
);
