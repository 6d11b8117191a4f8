-- A user's own egress allow-list: it narrows the operator's PYTH_ON_EGRESS_ALLOW further.
-- No row: no narrowing. `hosts` holds normalized host patterns, one per line.

create table egress_allow (
    user_id    uuid not null references app_user (user_id) on delete cascade,
    hosts      text not null,
    created_at bigint not null,
    updated_at bigint not null,
    constraint egress_allow_pkey primary key (user_id)
);
