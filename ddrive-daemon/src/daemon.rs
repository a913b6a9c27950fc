//! Starting and stopping a daemon.

use std::net::SocketAddr;
use std::sync::Arc;

use corestore::Corestore;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;

use crate::auth::Auth;
use crate::client_config::{ClientConfig, Token};
use crate::config::Config;
use crate::drives::Drives;
use crate::error::{Error, Result};
use crate::proto::{
    drive_server::DriveServer, fuse_server::FuseServer, hyperdrive_server::HyperdriveServer,
    peers_server::PeersServer, peersockets_server::PeersocketsServer,
};
use crate::service::{
    App, DriveService, FuseService, HyperdriveService, PeersService, PeersocketsService,
};
use crate::state::State;
use crate::status::DaemonInfo;

/// A running daemon. Dropping it without [`Daemon::shutdown`] stops the server but does not
/// wait for the cores to be flushed.
#[derive(Debug)]
pub struct Daemon {
    addr: SocketAddr,
    client_config: ClientConfig,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
    store: Arc<Corestore>,
    app: Arc<App>,
}

impl Daemon {
    /// Opens the storage (or memory), writes `config.json` and starts serving. Fails if the
    /// folder or the address cannot be used.
    pub async fn start(config: Config) -> Result<Daemon> {
        let storage = config.storage.clone();
        std::fs::create_dir_all(&storage).map_err(|e| Error::io(&storage, e))?;
        let token = match config.token.clone() {
            Some(t) => t,
            None => Token::random()?,
        };
        let memory_only = config.memory_only;
        let dir = storage.clone();
        let (store, state) = tokio::task::spawn_blocking(move || -> Result<(Corestore, State)> {
            if memory_only {
                return Ok((Corestore::in_memory()?, State::in_memory()?));
            }
            let cores = dir.join("storage").join("cores");
            std::fs::create_dir_all(&cores).map_err(|e| Error::io(&cores, e))?;
            Ok((
                Corestore::open(&cores)?,
                State::open(&dir.join("state.redb"))?,
            ))
        })
        .await
        .map_err(|e| Error::State(format!("the storage task failed: {e}")))??;
        let store = Arc::new(store);
        let drives = Arc::new(Drives::new(store.clone(), Arc::new(state), memory_only)?);

        let listener = TcpListener::bind((config.host, config.port))
            .await
            .map_err(|source| Error::Bind {
                addr: format!("{}:{}", config.host, config.port),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: format!("{}:{}", config.host, config.port),
            source,
        })?;
        let client_config = ClientConfig {
            token: token.clone(),
            endpoint: addr.to_string(),
        };
        client_config.write(&storage)?;

        let app = Arc::new(App {
            drives,
            info: DaemonInfo::new(),
        });
        let auth = Auth::new(token);
        let check = move |r| auth.check(r);
        let router = Server::builder()
            .add_service(HyperdriveServer::with_interceptor(
                HyperdriveService(app.clone()),
                check.clone(),
            ))
            .add_service(DriveServer::with_interceptor(
                DriveService::new(app.clone()),
                check.clone(),
            ))
            .add_service(FuseServer::with_interceptor(FuseService, check.clone()))
            .add_service(PeersServer::with_interceptor(PeersService, check.clone()))
            .add_service(PeersocketsServer::with_interceptor(
                PeersocketsService,
                check,
            ));
        let (stop, stopped) = oneshot::channel::<()>();
        // Without TCP_NODELAY, a reply's small frames wait for the client's delayed ACK
        // (tonic sets it only on the listeners it makes itself).
        let incoming = tokio_stream::StreamExt::map(TcpListenerStream::new(listener), |s| {
            if let Ok(s) = &s {
                let _ = s.set_nodelay(true);
            }
            s
        });
        let server = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
            let _ = stopped.await;
        }));
        tracing::info!(%addr, storage = %storage.display(), memory_only, "ddrive daemon listening");
        Ok(Daemon {
            addr,
            client_config,
            stop: Some(stop),
            server: Some(server),
            store,
            app,
        })
    }

    /// The address the API listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What `config.json` says (the endpoint and the token).
    pub fn client_config(&self) -> &ClientConfig {
        &self.client_config
    }

    /// How many client sessions are open.
    pub fn session_count(&self) -> usize {
        self.app.drives.session_count()
    }

    /// Stops serving (calls under way finish, new ones are refused), then flushes and closes
    /// every core and the state database.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .map_err(|e| Error::Server(e.to_string()))?
                .map_err(|e| Error::Server(e.to_string()))?;
        }
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.close())
            .await
            .map_err(|e| Error::State(format!("the close task failed: {e}")))??;
        tracing::info!(addr = %self.addr, "ddrive daemon stopped");
        Ok(())
    }

    /// Resolves when the server stops on its own (it only does on an error).
    pub async fn wait(&mut self) -> Result<()> {
        match self.server.as_mut() {
            Some(server) => {
                let result = server.await;
                self.server = None;
                result
                    .map_err(|e| Error::Server(e.to_string()))?
                    .map_err(|e| Error::Server(e.to_string()))
            }
            None => Ok(()),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
