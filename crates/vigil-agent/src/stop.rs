//! Stopping on SIGINT and SIGTERM.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// SIGINT and SIGTERM set the returned flag; a second one exits at once.
pub fn on_signals() -> std::io::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop))?;
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    Ok(stop)
}
