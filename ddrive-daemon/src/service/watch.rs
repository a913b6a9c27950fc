//! `Drive.watch`: one empty message per change under a path, until the client sends anything
//! else or ends its stream, or the drive closes.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::BoxStream;
use tonic::{Status, Streaming};

use super::{App, check_path, drive::failed};
use crate::drives::Drives;
use crate::proto;

/// Uncounts a watch however its task ends.
struct Counted(Arc<Drives>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.remove_watch();
    }
}

pub(crate) async fn watch(
    app: Arc<App>,
    mut inbound: Streaming<proto::WatchRequest>,
) -> Result<BoxStream<proto::WatchResponse>, Status> {
    let first = inbound.message().await?.ok_or_else(|| {
        Status::invalid_argument("watch: the stream ended before its first message")
    })?;
    let s = app.drives.session("watch", first.id)?;
    let path = if first.path.is_empty() {
        "/".to_owned()
    } else {
        check_path("watch", &first.path)?.to_owned()
    };
    if !app.drives.add_watch() {
        return Err(Status::resource_exhausted(
            "Watch limit reached. Please close watch connections then try again.",
        ));
    }
    let counted = Counted(app.drives.clone());
    let mut watcher = s
        .drive
        .watch(&path)
        .await
        .map_err(failed("watch", &s, &path))?;
    let mut closed = s.closed.clone();
    // One slot: changes coalesce while the client is slow, as the drive's watcher does.
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let _counted = counted;
        loop {
            tokio::select! {
                change = watcher.changed() => match change {
                    Some(_) => {
                        if tx.send(Ok(proto::WatchResponse {})).await.is_err() {
                            break;
                        }
                    }
                    None => break,
                },
                // Any later message, the end of the client's stream, or its failure cancels.
                _ = inbound.message() => break,
                _ = closed.changed() => break,
                () = tx.closed() => break,
            }
        }
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}
