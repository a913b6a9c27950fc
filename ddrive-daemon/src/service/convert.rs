//! Between hyperdrive's types and the API's messages.

use hyperdrive::{MountRecord, Stat, StatMount, WriteOptions};

use crate::proto;

/// A Stat as the API sends it (every field, as the trie stores it).
pub(crate) fn stat(s: &Stat) -> proto::Stat {
    proto::Stat {
        mode: s.mode,
        uid: Some(s.uid),
        gid: Some(s.gid),
        size: Some(s.size),
        blocks: Some(s.blocks),
        offset: Some(s.offset),
        byte_offset: Some(s.byte_offset),
        mtime: Some(s.mtime),
        ctime: Some(s.ctime),
        linkname: s.linkname.clone(),
        mount: s.mount.as_ref().map(stat_mount),
        metadata: s
            .metadata
            .iter()
            .filter_map(|(k, v)| Some((k.to_owned(), v?.to_vec())))
            .collect(),
    }
}

fn stat_mount(m: &StatMount) -> proto::Mount {
    proto::Mount {
        key: m.key.to_vec(),
        version: m.version,
        hash: m.hash.clone(),
        hypercore: Some(m.hypercore),
    }
}

/// A mount record as an API Mount.
pub(crate) fn mount(m: &MountRecord) -> proto::Mount {
    proto::Mount {
        key: m.key.to_vec(),
        version: m.version,
        hash: m.hash.clone(),
        hypercore: None,
    }
}

/// The write options a request's Stat asks for: zero or absent fields keep the defaults (the
/// Node client sends a Stat with only the fields its caller set).
pub(crate) fn write_options(opts: Option<&proto::Stat>) -> WriteOptions {
    let mut out = WriteOptions::default();
    let Some(s) = opts else {
        return out;
    };
    if s.mode != 0 {
        out = out.mode(s.mode);
    }
    out = out.owner(s.uid.unwrap_or(0), s.gid.unwrap_or(0));
    out.mtime = s.mtime.filter(|&t| t != 0);
    out.ctime = s.ctime.filter(|&t| t != 0);
    let mut keys: Vec<_> = s.metadata.iter().collect();
    // A map has no order on the wire; sorting keeps the stored Stat deterministic.
    keys.sort();
    for (k, v) in keys {
        out.metadata.set(k.clone(), Some(v.clone()));
    }
    out
}
