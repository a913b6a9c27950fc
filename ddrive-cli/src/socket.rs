//! The channel to the daemon: its Unix socket (`<storage>/run/ddrive.sock`, only our user's
//! connections are served there) when it answers, else the TCP endpoint in `config.json`.

use std::path::Path;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint, Uri};

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Connects over the socket, falling back to `endpoint` (host:port) over TCP.
pub(crate) async fn channel(
    storage: &Path,
    endpoint: &str,
) -> Result<Channel, tonic::transport::Error> {
    let socket = ddrive_daemon::socket_path(storage);
    if socket.exists() {
        let path = socket.clone();
        let connected = Endpoint::from_static("http://localhost")
            .connect_timeout(CONNECT_TIMEOUT)
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move {
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                        tokio::net::UnixStream::connect(path).await?,
                    ))
                }
            }))
            .await;
        match connected {
            Ok(channel) => return Ok(channel),
            Err(e) => {
                tracing::debug!(socket = %socket.display(), error = %e, "the socket does not answer; trying TCP")
            }
        }
    }
    Endpoint::from_shared(format!("http://{endpoint}"))?
        .connect_timeout(CONNECT_TIMEOUT)
        .connect()
        .await
}
