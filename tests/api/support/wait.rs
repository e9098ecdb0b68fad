//! Waiting for what should happen soon, without a fixed sleep.

use std::future::Future;
use std::time::Duration;

/// How long a test waits for what should happen soon. Generous, because the suite shares a
/// loaded machine; polling returns as soon as the thing holds, so passing tests do not wait it.
/// What a test proves is that it happens without a restart, not how fast: speed is the
/// benchmarks' business.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `attempt` every 150 ms until it yields a value; fails after [`PATIENCE`].
pub async fn eventually<T>(what: &str, mut attempt: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {PATIENCE:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Awaits `future`, failing the test if it takes longer than [`PATIENCE`]: whatever goes wrong,
/// a caller must get an answer.
pub async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("no answer within {PATIENCE:?}: {what}"))
}
