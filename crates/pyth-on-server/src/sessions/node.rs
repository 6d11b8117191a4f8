//! This node among the nodes sharing a database: its advertised URL (`--node-url`) and its
//! instance id, random per start, so the session records of an earlier run of the same node
//! (it died, or stopped without clearing them) are told apart from its live ones.

use pyth_on_store::SessionRecord;
use uuid::Uuid;

/// Who this node is on the session records.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    /// The advertised base URL without a trailing `/`; `None`: sessions are node-local.
    url: Option<String>,
    /// This process's instance id.
    instance: Uuid,
}

/// Where a session record says its session lives, as seen from this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// This very process.
    Here,
    /// An earlier run of this node: the session died with it.
    EarlierRunHere,
    /// Another node.
    Elsewhere,
}

impl NodeIdentity {
    /// A node advertised at `url` (a validated `--node-url`), with a fresh instance id.
    pub fn new(url: Option<&str>) -> Self {
        Self {
            url: url.map(|u| u.trim_end_matches('/').to_owned()),
            instance: Uuid::now_v7(),
        }
    }

    /// The advertised base URL, when sessions are shared across nodes.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// This process's instance id.
    pub fn instance(&self) -> Uuid {
        self.instance
    }

    /// Where `record`'s session lives.
    pub fn holder(&self, record: &SessionRecord) -> Holder {
        if self.url.as_deref() != Some(record.node_url.as_str()) {
            Holder::Elsewhere
        } else if record.node_instance == self.instance {
            Holder::Here
        } else {
            Holder::EarlierRunHere
        }
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;

    fn record(node_url: &str, node_instance: Uuid) -> SessionRecord {
        let now = OffsetDateTime::now_utc();
        SessionRecord {
            session_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            node_url: node_url.into(),
            node_instance,
            language: "python".into(),
            memory_mb: 256,
            idle_timeout_secs: 600,
            max_lifetime_secs: 3600,
            created_at: now,
            last_used_at: now,
            expires_at: now,
        }
    }

    #[test]
    fn a_record_is_here_from_an_earlier_run_here_or_elsewhere_by_url_and_instance() {
        let node = NodeIdentity::new(Some("http://10.0.0.5:8080/"));
        assert_eq!(node.url(), Some("http://10.0.0.5:8080"));
        let here = record("http://10.0.0.5:8080", node.instance());
        let earlier = record("http://10.0.0.5:8080", Uuid::now_v7());
        let other = record("http://10.0.0.6:8080", node.instance());
        assert_eq!(node.holder(&here), Holder::Here);
        assert_eq!(node.holder(&earlier), Holder::EarlierRunHere);
        assert_eq!(node.holder(&other), Holder::Elsewhere);
        let alone = NodeIdentity::new(None);
        assert_eq!(alone.holder(&here), Holder::Elsewhere);
    }
}
