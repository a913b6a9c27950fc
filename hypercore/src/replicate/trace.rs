//! The wire timeline, at trace level under target `ddrive::wire` (a bench runner prints it with
//! `BENCH_TRACE=1`): what a session reads, writes, sends and hears, in a few words each.

use crate::protocol::{Event, Message};

/// The first bytes of a discovery key in hex, to tell channels apart in traces.
pub(crate) fn short(dk: &[u8; 32]) -> String {
    dk[..3].iter().map(|b| format!("{b:02x}")).collect()
}

/// A message in a few words for the wire trace (a `Data`'s payload is not worth printing).
pub(crate) fn describe(m: &Message) -> String {
    use Message as M;
    match m {
        M::Want(w) => format!("Want{{{}+{}}}", w.start, w.length()),
        M::Have(h) => format!(
            "Have{{{}+{}{}}}",
            h.start,
            h.length(),
            if h.bitfield.is_some() { " bits" } else { "" }
        ),
        M::Request(r) => format!("Request{{{}}}", r.index),
        M::Data(d) => format!(
            "Data{{{} {} B, {} nodes}}",
            d.index,
            d.value.as_ref().map_or(0, Vec::len),
            d.nodes.len()
        ),
        M::Status(s) => format!("Status{{up {} down {}}}", s.uploading(), s.downloading()),
        other => format!("{other:?}").chars().take(40).collect(),
    }
}

/// Session events on the wire trace (target `ddrive::wire`, level trace).
pub(crate) fn trace_event(event: &Event) {
    if !tracing::enabled!(target: "ddrive::wire", tracing::Level::TRACE) {
        return;
    }
    let what = match event {
        Event::Handshake { .. } => "handshake".to_owned(),
        Event::DiscoveryKey { discovery_key } => format!("remote opened {}", short(discovery_key)),
        Event::ChannelOpen { discovery_key } => format!("channel open {}", short(discovery_key)),
        Event::ChannelClosed { discovery_key } => {
            format!("channel closed {}", short(discovery_key))
        }
        Event::Message {
            discovery_key,
            message,
        } => format!("recv {} {}", short(discovery_key), describe(message)),
        _ => "other event".to_owned(),
    };
    tracing::trace!(target: "ddrive::wire", "{what}");
}
