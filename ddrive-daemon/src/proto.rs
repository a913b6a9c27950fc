//! The hyperdrive-daemon API (hyperdrive-schemas 1.11) as prost messages and tonic services,
//! generated at build time from `proto/`. Servers live in `<service>_server`, clients in
//! `<service>_client` (for example [`drive_client::DriveClient`]).
#![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]

include!(concat!(env!("OUT_DIR"), "/_.rs"));
