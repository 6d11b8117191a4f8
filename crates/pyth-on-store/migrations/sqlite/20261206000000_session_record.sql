-- Sessions open on some node. A session lives on one node (its interpreter is a process
-- there); its row says which: the node's advertised URL and the instance id of the process
-- holding it (random per start, so the rows of a node's earlier run are recognised as dead).
-- A row is written when the session opens and removed when it ends; a node starting removes
-- the rows of its earlier instances. Any node reads them to forward a request to the owner
-- and to list a user's sessions on every node.

create table session_record (
    session_id        text primary key not null,
    user_id           text not null references app_user (user_id) on delete cascade,
    node_url          text not null,
    node_instance     text not null,
    language          text not null,
    memory_mb         bigint not null,
    idle_timeout_secs bigint not null,
    max_lifetime_secs bigint not null,
    created_at        bigint not null,
    last_used_at      bigint not null,
    expires_at        bigint not null
);

create index session_record_user on session_record (user_id, created_at);
create index session_record_node on session_record (node_url);
create index session_record_expires on session_record (expires_at);
