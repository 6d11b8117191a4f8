//! The session figures of `pyth-on bench`: how long opening a session takes (each one ended
//! after, untimed) and the round trip of one small cell (`x += 1`) over HTTP in a session
//! that stays open.

use std::time::Instant;

use anyhow::{bail, Context};
use pyth_on_client::Client;
use pyth_on_types::{CellRequest, CreateSessionRequest};
use uuid::Uuid;

use super::{summarize, Summary};

fn open_request(lang: &str) -> CreateSessionRequest {
    CreateSessionRequest {
        language: Some(lang.into()),
        ..Default::default()
    }
}

/// Milliseconds since `t`.
fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Opens `warmup` then `n` sessions one after another, timing each opening (until its 201)
/// and ending each before the next.
pub async fn creation(
    client: &Client,
    lang: &str,
    n: usize,
    warmup: usize,
) -> anyhow::Result<Summary> {
    let mut ms = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..warmup + n {
        let t = Instant::now();
        let info = client
            .create_session(&open_request(lang))
            .await
            .context("opening a session")?;
        if i >= warmup {
            ms.push(ms_since(t));
        }
        client
            .delete_session(info.id)
            .await
            .context("ending a session")?;
    }
    Ok(summarize(ms, started.elapsed()))
}

/// Runs `warmup` then `n` cells of `x += 1` in one session, timing each round trip, and
/// checks the session counted them all.
pub async fn cells(
    client: &Client,
    lang: &str,
    n: usize,
    warmup: usize,
) -> anyhow::Result<Summary> {
    let info = client
        .create_session(&open_request(lang))
        .await
        .context("opening a session")?;
    let measured = time_cells(client, info.id, lang, n, warmup).await;
    let ended = client.delete_session(info.id).await;
    let summary = measured?;
    ended.context("ending the session")?;
    Ok(summary)
}

async fn time_cells(
    client: &Client,
    id: Uuid,
    lang: &str,
    n: usize,
    warmup: usize,
) -> anyhow::Result<Summary> {
    let cell = |code: &str| CellRequest {
        code: code.into(),
        timeout_ms: None,
    };
    let init = if lang == "javascript" {
        "var x = 0"
    } else {
        "x = 0"
    };
    client.execute_cell(id, &cell(init)).await?;
    let mut ms = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..warmup + n {
        let t = Instant::now();
        let answer = client.execute_cell(id, &cell("x += 1")).await?;
        if let Some(error) = answer.error {
            bail!("x += 1 raised {}: {}", error.name, error.message);
        }
        if i >= warmup {
            ms.push(ms_since(t));
        }
    }
    let wall = started.elapsed();
    let last = client.execute_cell(id, &cell("x")).await?;
    let count = last.results.first().map(|r| r.data.trim().to_string());
    if count.as_deref() != Some((warmup + n).to_string().as_str()) {
        bail!("after {} cells x is {count:?}", warmup + n);
    }
    Ok(summarize(ms, wall))
}
