-- Zero-knowledge code: encrypted programs, one per (user, case-sensitive name). payload is
-- the wire JSON text, stored opaque; size is the plaintext length.

create table zk_code (
    user_id    text not null references app_user (user_id) on delete cascade,
    name       text not null,
    language   text not null,
    payload    text not null,
    size       bigint not null,
    kdf_m      bigint not null,
    kdf_t      bigint not null,
    kdf_p      bigint not null,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (user_id, name)
);
