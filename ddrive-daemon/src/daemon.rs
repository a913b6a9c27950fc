//! Starting and stopping a daemon.

use std::net::SocketAddr;
use std::sync::Arc;

use corestore::Corestore;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::auth::Auth;
use crate::client_config::{ClientConfig, Token};
use crate::config::Config;
use crate::drives::Drives;
use crate::error::{Error, Result};
use crate::fuse::{Fuse, MountConfig};
use crate::network::Network;
use crate::proto::{
    d_drive_server::DDriveServer, drive_server::DriveServer, fuse_server::FuseServer,
    hypercore_server::HypercoreServer, hyperdrive_server::HyperdriveServer,
    peers_server::PeersServer, peersockets_server::PeersocketsServer,
};
use crate::service::{
    App, DDriveService, DriveService, FuseService, HypercoreService, HyperdriveService, Mirrors,
    PeersService, PeersocketsService,
};
use crate::state::State;
use crate::status::DaemonInfo;

/// The Unix-socket server, its socket path, and its stop signal.
type UnixServer = (
    JoinHandle<Result<(), tonic::transport::Error>>,
    std::path::PathBuf,
    oneshot::Sender<()>,
);

/// A running daemon. Dropping it without [`Daemon::shutdown`] stops the server but does not
/// wait for the cores to be flushed.
#[derive(Debug)]
pub struct Daemon {
    addr: SocketAddr,
    client_config: ClientConfig,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
    unix: Option<UnixServer>,
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
        let network = Network::start(&config, store.clone()).await;
        let drives = Arc::new(Drives::new(
            store.clone(),
            Arc::new(state),
            memory_only,
            network.clone(),
            config.block_timeout,
        )?);

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

        let fuse_config = config.mountpoint.clone().map(|mountpoint| MountConfig {
            mountpoint,
            allow_other: config.allow_other,
            read_timeout: config.fuse_read_timeout,
            storage: storage.clone(),
        });
        let app = Arc::new(App {
            drives,
            info: DaemonInfo::new(),
            fuse: Fuse::new(fuse_config),
            mirrors: Mirrors::default(),
            network: network.clone(),
        });
        if app.fuse.configured()
            && let Err(e) = app.fuse.mount_root(&app.drives).await
        {
            // The API still serves; `status` shows the drive is not mounted.
            tracing::error!(error = %e, "the root drive could not be mounted");
        }
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
            .add_service(FuseServer::with_interceptor(
                FuseService(app.clone()),
                check.clone(),
            ))
            .add_service(PeersServer::with_interceptor(
                PeersService(app.clone()),
                check.clone(),
            ))
            .add_service(PeersocketsServer::with_interceptor(
                PeersocketsService(app.clone()),
                check.clone(),
            ))
            .add_service(HypercoreServer::with_interceptor(
                HypercoreService::new(app.clone()),
                check.clone(),
            ))
            .add_service(DDriveServer::with_interceptor(
                DDriveService(app.clone()),
                check,
            ));
        let unix = match crate::listener::bind(&storage) {
            Ok((listener, path, uid)) => {
                let (stop, stopped) = oneshot::channel::<()>();
                let server = tokio::spawn(router.clone().serve_with_incoming_shutdown(
                    crate::listener::incoming(listener, uid),
                    async {
                        let _ = stopped.await;
                    },
                ));
                Some((server, path, stop))
            }
            Err(e) => {
                // TCP still serves every client; the CLI falls back to it.
                tracing::warn!(error = %e, "no Unix-socket listener");
                None
            }
        };
        crate::service::resume_mirrors(&app).await;
        let (stop, stopped) = oneshot::channel::<()>();
        // No Nagle: a streamed answer's last frames (data, then trailers) would otherwise wait
        // for the client's delayed ACK, about 40 ms per small read.
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let server = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
            let _ = stopped.await;
        }));
        tracing::info!(%addr, storage = %storage.display(), memory_only, "ddrive daemon listening");
        Ok(Daemon {
            addr,
            client_config,
            stop: Some(stop),
            server: Some(server),
            unix,
            store,
            app,
        })
    }

    /// The Unix socket the API also listens on, if it could be bound.
    pub fn socket_path(&self) -> Option<&std::path::Path> {
        self.unix.as_ref().map(|(_, path, _)| path.as_path())
    }

    /// The address the API listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What `config.json` says (the endpoint and the token).
    pub fn client_config(&self) -> &ClientConfig {
        &self.client_config
    }

    /// Where the root drive is mounted, when it is (as the kernel's mount table shows).
    pub fn mountpoint(&self) -> Option<std::path::PathBuf> {
        self.app
            .fuse
            .current()
            .filter(|m| m.is_mounted())
            .map(|m| m.mountpoint().to_owned())
    }

    /// The root drive's key, once it is mounted.
    pub fn root_drive_key(&self) -> Option<[u8; 32]> {
        self.app.fuse.current().map(|m| m.key())
    }

    /// The port the swarm listens on (TCP and UDP), 0 when it could not bind.
    pub fn swarm_port(&self) -> u16 {
        self.app.network.swarm_port()
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
        if let Err(e) = self.app.fuse.unmount(&self.app.drives).await {
            tracing::error!(error = %e, "the root drive could not be unmounted");
        }
        if let Some((server, path, stop)) = self.unix.take() {
            let _ = stop.send(());
            server
                .await
                .map_err(|e| Error::Server(e.to_string()))?
                .map_err(|e| Error::Server(e.to_string()))?;
            let _ = std::fs::remove_file(path);
        }
        self.app.network.shutdown().await;
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
        if let Some((_, _, stop)) = self.unix.take() {
            let _ = stop.send(());
        }
        // Without a shutdown the swarm still goes: its tasks end with the last handle.
        self.app.network.stop_now();
    }
}
