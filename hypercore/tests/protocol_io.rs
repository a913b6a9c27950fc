//! The tokio glue: two sessions over an in-memory duplex pipe, in both roles.
#![cfg(feature = "tokio")]

use anyhow::{Context, Result};
use hypercore::KeyPair;
use hypercore::protocol::io::SessionStream;
use hypercore::protocol::{Event, Message, SessionConfig, Status};

async fn side(
    io: tokio::io::DuplexStream,
    initiator: bool,
    key: hypercore::PublicKey,
) -> Result<Vec<Event>> {
    let dk = key.discovery_key();
    let mut s = SessionStream::new(io, SessionConfig::new(initiator));
    s.session_mut().open(&key)?;
    let mut events = Vec::new();
    while let Some(event) = s.next_event().await? {
        match &event {
            Event::ChannelOpen { .. } => {
                s.session_mut()
                    .send(&dk, Message::Status(Status::new(initiator, !initiator)))?;
            }
            // The responder closes once it heard the initiator's Status; both then finish.
            Event::Message { .. } if !initiator => s.session_mut().close(&dk)?,
            _ => {}
        }
        events.push(event);
    }
    Ok(events)
}

#[tokio::test]
async fn sessions_talk_over_a_duplex_pipe() -> Result<()> {
    let (x, y) = tokio::io::duplex(1024);
    let key = KeyPair::generate().public;
    let dk = key.discovery_key();
    let a = tokio::spawn(side(x, true, key));
    let b = tokio::spawn(side(y, false, key));
    let (a, b) = (a.await.context("join")??, b.await.context("join")??);
    let status_from = |initiator: bool| Event::Message {
        discovery_key: dk,
        message: Message::Status(Status::new(initiator, !initiator)),
    };
    assert!(matches!(a[0], Event::Handshake { .. }), "{a:?}");
    assert!(b.contains(&status_from(true)), "{b:?}");
    assert_eq!(b.last(), Some(&Event::Finished));
    assert!(
        a.contains(&Event::ChannelClosed { discovery_key: dk }),
        "{a:?}"
    );
    assert_eq!(a.last(), Some(&Event::Finished));
    Ok(())
}
