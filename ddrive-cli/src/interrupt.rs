//! Ctrl-C and SIGTERM for long commands: the first one asks the work to stop at a safe point.

use anyhow::{Context, Result};
use tokio::sync::watch;

/// Turns true on SIGINT or SIGTERM.
pub(crate) fn on_interrupt() -> Result<watch::Receiver<bool>> {
    let (tx, rx) = watch::channel(false);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        let _ = tx.send(true);
    });
    Ok(rx)
}

/// Resolves once the interrupt came (never, if its sender is gone without one).
pub(crate) async fn interrupted(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Ends the process at once after an interrupt, with the interrupted exit code, so the
/// connection to the daemon breaks under any transfer still in flight (see `parallel`).
pub(crate) fn exit_interrupted() -> ! {
    std::process::exit(crate::exit::Exit::Interrupted.code().into())
}
