//! The metrics job: the Prometheus endpoint, and the posture collectors
//! refreshed in the background so a scrape never waits on a file walk.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use vigil_metrics::server::{self, Endpoint};
use vigil_metrics::snapshot::Snapshot;
use vigil_metrics::web_config::WebConfig;

/// Binds the endpoint and starts the posture refresher.
pub fn start(
    listen: &str,
    web_config: Option<&Path>,
    snapshot: Arc<RwLock<Snapshot>>,
    posture_interval: Duration,
    stop: Arc<AtomicBool>,
) -> Result<Endpoint, String> {
    let web = match web_config {
        Some(p) => WebConfig::load(p).map_err(|e| format!("web config {e}"))?,
        None => WebConfig::default(),
    };
    // Posture is there from the first scrape.
    refresh_posture(&snapshot);
    let endpoint = server::serve(listen, web, snapshot.clone())?;
    std::thread::Builder::new()
        .name("posture".into())
        .spawn(move || {
            let mut next = Instant::now() + posture_interval;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                if Instant::now() >= next {
                    refresh_posture(&snapshot);
                    next = Instant::now() + posture_interval;
                }
            }
        })
        .map_err(|e| format!("posture thread: {e}"))?;
    Ok(endpoint)
}

fn refresh_posture(snapshot: &Arc<RwLock<Snapshot>>) {
    let families = vigil_posture::collect_all(&vigil_posture::Host { root: "/".into() });
    snapshot.write().unwrap_or_else(|p| p.into_inner()).posture = families;
}
