//! Entry points for the fuzz targets (`fuzz/` at the workspace root) and the corpus replay test:
//! each takes a record as a peer's trie node value could carry it and panics only on a bug.
//! Not part of the API.

use crate::layout::{decode_record, encode_record};
use crate::{MountRecord, Stat};

/// A `Stat` (a file's trie value): whatever decodes re-encodes to bytes that decode to a Stat
/// encoding the same way (the first encoding may reorder metadata: integer-like keys go first,
/// as JS objects order them), and its extent record, if any, is read as a file read would.
pub fn stat(data: &[u8]) {
    let Ok(stat) = Stat::decode(data) else {
        return;
    };
    let bytes = stat.encode();
    let again = Stat::decode(&bytes).expect("an encoded Stat decodes");
    assert_eq!(again.encode(), bytes, "stat changed in a round trip");
    let _ = crate::layout::stat_layout(&stat);
}

/// A mount record (a mount point's trie value).
pub fn mount(data: &[u8]) {
    if let Ok(mount) = MountRecord::decode(data) {
        assert_eq!(
            MountRecord::decode(&mount.encode()).as_ref(),
            Ok(&mount),
            "mount record changed in a round trip"
        );
    }
}

/// An extent record (`ddrive:extents` in a Stat's metadata).
pub fn extents(data: &[u8]) {
    if let Ok((guard, layout)) = decode_record(data) {
        let again = encode_record(guard, &layout).expect("a decoded record encodes");
        let (guard2, layout2) = decode_record(&again).expect("an encoded record decodes");
        assert_eq!(guard, guard2, "guard changed in a round trip");
        assert_eq!(
            layout.extents(),
            layout2.extents(),
            "extents changed in a round trip"
        );
    }
}
