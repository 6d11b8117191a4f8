-- Runs whose start is on the record and whose outcome is not yet. A row is written in the same
-- transaction as the run's `started` audit entry and removed in the one that appends its
-- outcome. A row left behind (its node died) becomes an `interrupted` outcome: at that node's
-- next start, or by any node once `deadline_at` has passed.

create table run_record (
    execution_id text primary key not null,
    user_id      text not null references app_user (user_id) on delete cascade,
    node         text not null,
    action       text not null,
    resource     text,
    ip           text,
    auth_method  text,
    api_key_id   text,
    started_at   bigint not null,
    deadline_at  bigint not null,
    created_at   bigint not null,
    updated_at   bigint not null
);

create index run_record_node on run_record (node);
create index run_record_deadline on run_record (deadline_at);
