//! The metrics job: the Prometheus endpoint, and the posture collectors
//! refreshed in the background so a scrape never waits on a file walk.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use vigil_metrics::server::{self, Endpoint};
use vigil_metrics::snapshot::Snapshot;
use vigil_metrics::web_config::WebConfig;

#[derive(Clone, Debug)]
pub struct MetricsSpec {
    pub enabled: bool,
    /// HOST:PORT.
    pub listen: String,
    /// An exporter web config (TLS, basic auth).
    pub web_config: Option<PathBuf>,
    pub posture_interval: Duration,
}

/// The snapshot the endpoint serves, shared by every job that publishes
/// into it.
#[derive(Clone, Default)]
pub struct Published(Arc<RwLock<Snapshot>>);

impl Published {
    pub fn update(&self, f: impl FnOnce(&mut Snapshot)) {
        f(&mut self.0.write().unwrap_or_else(|p| p.into_inner()));
    }

    pub fn shared(&self) -> Arc<RwLock<Snapshot>> {
        self.0.clone()
    }
}

/// Binds the endpoint and starts the posture refresher.
pub fn start(
    spec: &MetricsSpec,
    published: &Published,
    stop: Arc<AtomicBool>,
) -> Result<Endpoint, String> {
    let web = match &spec.web_config {
        Some(p) => WebConfig::load(p).map_err(|e| format!("web config {e}"))?,
        None => WebConfig::default(),
    };
    // Posture is there from the first scrape.
    refresh_posture(published);
    let endpoint = server::serve(&spec.listen, web, published.shared())?;
    let published = published.clone();
    let interval = spec.posture_interval;
    std::thread::Builder::new()
        .name("posture".into())
        .spawn(move || {
            let mut next = Instant::now() + interval;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                if Instant::now() >= next {
                    refresh_posture(&published);
                    next = Instant::now() + interval;
                }
            }
        })
        .map_err(|e| format!("posture thread: {e}"))?;
    Ok(endpoint)
}

fn refresh_posture(published: &Published) {
    let families = vigil_posture::collect_all(&vigil_posture::Host { root: "/".into() });
    published.update(|s| s.posture = families);
}
