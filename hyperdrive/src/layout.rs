//! A file's bytes as a list of extents, and the extent record ddrive stores for files whose
//! bytes are not one contiguous run of content blocks (see the crate docs, "Random-access
//! writes").

use crate::proto::{get_varint, put_varint};
use crate::stat::Stat;

/// Metadata key of the extent record in a Stat.
pub const EXTENTS_KEY: &str = "ddrive:extents";

/// Format byte that starts an extent record.
const RECORD_VERSION: u8 = 1;

/// Most extents a record we read may list. We write at most
/// [`MAX_EXTENTS`](crate::edit::MAX_EXTENTS) (a commit past that rewrites the file as one run);
/// the margin is for other writers. Without a cap one 8 MiB Stat of two-byte extents would
/// decode into four million of them on every read of the file.
pub(crate) const MAX_RECORD_EXTENTS: usize = 8 * crate::edit::MAX_EXTENTS;

/// Where an extent's bytes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// Zeros (a hole: a write past the end or a truncate up).
    Zeros,
    /// Content-feed bytes starting at this feed byte position.
    Feed(u64),
    /// Bytes written but not yet appended: an offset into the editor's buffer.
    Pending(u64),
}

impl Source {
    fn advance(self, n: u64) -> Source {
        match self {
            Source::Zeros => Source::Zeros,
            Source::Feed(b) => Source::Feed(b + n),
            Source::Pending(p) => Source::Pending(p + n),
        }
    }
}

/// `len` bytes of the file from `source`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Extent {
    pub(crate) len: u64,
    pub(crate) source: Source,
}

impl Extent {
    fn follows(&self, next: &Extent) -> bool {
        self.source.advance(self.len) == next.source
    }

    /// The part `from..to` (relative to the extent's start).
    fn cut(&self, from: u64, to: u64) -> Extent {
        Extent {
            len: to - from,
            source: self.source.advance(from),
        }
    }
}

/// The file's extents in file order; neighbours that continue each other are merged and
/// empty extents are never kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    extents: Vec<Extent>,
}

impl Layout {
    pub(crate) fn from_extents(extents: impl IntoIterator<Item = Extent>) -> Self {
        let mut layout = Layout::default();
        for e in extents {
            layout.push(e);
        }
        layout
    }

    pub(crate) fn extents(&self) -> &[Extent] {
        &self.extents
    }

    pub(crate) fn size(&self) -> u64 {
        self.extents.iter().map(|e| e.len).sum()
    }

    pub(crate) fn push(&mut self, e: Extent) {
        if e.len == 0 {
            return;
        }
        if let Some(last) = self.extents.last_mut()
            && last.follows(&e)
        {
            last.len += e.len;
            return;
        }
        self.extents.push(e);
    }

    /// Replaces bytes `pos..pos + len` with `source` (zeros fill any gap past the end).
    pub(crate) fn splice(&mut self, pos: u64, len: u64, source: Source) {
        let size = self.size();
        if pos > size {
            self.push(Extent {
                len: pos - size,
                source: Source::Zeros,
            });
        }
        let end = pos + len;
        let old = std::mem::take(&mut self.extents);
        let mut at = 0u64;
        let mut inserted = false;
        for e in old {
            let (start, stop) = (at, at + e.len);
            at = stop;
            if stop <= pos {
                self.push(e);
                continue;
            }
            if start < pos {
                self.push(e.cut(0, pos - start));
            }
            if !inserted {
                self.push(Extent { len, source });
                inserted = true;
            }
            if stop > end {
                self.push(e.cut(end.max(start) - start, e.len));
            }
        }
        if !inserted {
            self.push(Extent { len, source });
        }
    }

    /// Shortens the file to `size` bytes, or lengthens it with zeros.
    pub(crate) fn set_len(&mut self, size: u64) {
        let current = self.size();
        if size >= current {
            self.push(Extent {
                len: size - current,
                source: Source::Zeros,
            });
            return;
        }
        let old = std::mem::take(&mut self.extents);
        let mut at = 0u64;
        for e in old {
            if at >= size {
                break;
            }
            let keep = e.len.min(size - at);
            self.push(e.cut(0, keep));
            at += e.len;
        }
    }

    /// The extents with their file positions, for reads.
    pub(crate) fn positioned(&self) -> Vec<(u64, Extent)> {
        let mut at = 0;
        self.extents
            .iter()
            .map(|e| {
                let start = at;
                at += e.len;
                (start, *e)
            })
            .collect()
    }
}

/// The Node-visible fields an extent record was written with. A Stat whose fields differ was
/// rewritten by something that does not know the record (Node copying the metadata map into
/// a new file), so the record no longer describes it and is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Guard {
    pub(crate) size: u64,
    pub(crate) offset: u64,
    pub(crate) blocks: u64,
    pub(crate) byte_offset: u64,
}

/// Encodes an extent record: a format byte, the guard, then each extent as
/// `varint(len) varint(source)` with source 0 for zeros and `b + 1` for feed byte `b`.
/// Varints are protobuf's (little-endian base-128).
pub(crate) fn encode_record(guard: Guard, layout: &Layout) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(16 + layout.extents.len() * 6);
    out.push(RECORD_VERSION);
    for n in [guard.size, guard.offset, guard.blocks, guard.byte_offset] {
        put_varint(&mut out, n);
    }
    for e in &layout.extents {
        put_varint(&mut out, e.len);
        let source = match e.source {
            Source::Zeros => 0,
            Source::Feed(b) => b.checked_add(1).ok_or("feed position out of range")?,
            Source::Pending(_) => return Err("an extent still points at unwritten bytes"),
        };
        put_varint(&mut out, source);
    }
    Ok(out)
}

/// Decodes an extent record.
pub(crate) fn decode_record(mut buf: &[u8]) -> Result<(Guard, Layout), &'static str> {
    let (&version, rest) = buf.split_first().ok_or("empty extent record")?;
    if version != RECORD_VERSION {
        return Err("unknown extent record version");
    }
    buf = rest;
    fn next(buf: &mut &[u8]) -> Result<u64, &'static str> {
        let (v, n) = get_varint(buf).ok_or("truncated extent record")?;
        *buf = &buf[n..];
        Ok(v)
    }
    let guard = Guard {
        size: next(&mut buf)?,
        offset: next(&mut buf)?,
        blocks: next(&mut buf)?,
        byte_offset: next(&mut buf)?,
    };
    let mut extents = Vec::new();
    let mut total: u64 = 0;
    while !buf.is_empty() {
        if extents.len() == MAX_RECORD_EXTENTS {
            return Err("too many extents in an extent record");
        }
        let len = next(&mut buf)?;
        let source = match next(&mut buf)? {
            0 => Source::Zeros,
            s => Source::Feed(s - 1),
        };
        if let Source::Feed(b) = source {
            b.checked_add(len)
                .ok_or("extent past the end of the feed")?;
        }
        total = total.checked_add(len).ok_or("extents too long")?;
        extents.push(Extent { len, source });
    }
    if total != guard.size {
        return Err("extents do not add up to the size");
    }
    Ok((guard, Layout::from_extents(extents)))
}

/// The file layout a Stat describes: its extent record when it has one that still applies,
/// else the contiguous run `byte_offset .. byte_offset + size`.
pub(crate) fn stat_layout(stat: &Stat) -> Result<(Layout, bool), &'static str> {
    if let Some(Some(record)) = stat.metadata.get(EXTENTS_KEY) {
        let (guard, layout) = decode_record(record)?;
        let visible = Guard {
            size: stat.size,
            offset: stat.offset,
            blocks: stat.blocks,
            byte_offset: stat.byte_offset,
        };
        if guard == visible {
            return Ok((layout, true));
        }
    }
    let run = Extent {
        len: stat.size,
        source: Source::Feed(stat.byte_offset),
    };
    Ok((Layout::from_extents([run]), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(len: u64, at: u64) -> Extent {
        Extent {
            len,
            source: Source::Feed(at),
        }
    }

    #[test]
    fn splice_cuts_and_merges() {
        let mut l = Layout::from_extents([feed(10, 100)]);
        l.splice(3, 2, Source::Pending(0));
        assert_eq!(
            l.extents(),
            [
                feed(3, 100),
                Extent {
                    len: 2,
                    source: Source::Pending(0)
                },
                feed(5, 105)
            ]
        );
        // Putting the original bytes back merges into one run again.
        l.splice(3, 2, Source::Feed(103));
        assert_eq!(l.extents(), [feed(10, 100)]);
        l.splice(12, 1, Source::Feed(7));
        assert_eq!(l.size(), 13);
        assert_eq!(
            l.extents()[1],
            Extent {
                len: 2,
                source: Source::Zeros
            }
        );
        l.splice(0, 13, Source::Feed(50));
        assert_eq!(l.extents(), [feed(13, 50)]);
        l.set_len(4);
        assert_eq!(l.extents(), [feed(4, 50)]);
        l.set_len(6);
        assert_eq!(l.size(), 6);
    }

    #[test]
    fn record_round_trip_and_rejects() {
        let layout = Layout::from_extents([
            feed(5, 0),
            Extent {
                len: 3,
                source: Source::Zeros,
            },
            feed(2, 99),
        ]);
        let guard = Guard {
            size: 10,
            offset: 0,
            blocks: 4,
            byte_offset: 0,
        };
        let rec = encode_record(guard, &layout).unwrap();
        assert_eq!(hex::encode(&rec), "010a000400050103000264");
        assert_eq!(decode_record(&rec), Ok((guard, layout)));
        assert!(decode_record(&rec[..rec.len() - 1]).is_err());
        assert!(decode_record(&[2]).is_err());
        let mut bad = rec.clone();
        bad[1] = 11;
        assert!(decode_record(&bad).is_err());
    }

    #[test]
    fn a_record_lists_a_bounded_number_of_extents() {
        let record = |count: u64| {
            let one = Extent {
                len: 1,
                source: Source::Zeros,
            };
            // Zero runs do not merge in a record as written by hand: alternate the sources.
            let extents = (0..count).map(|i| if i % 2 == 0 { one } else { feed(1, i) });
            let mut out = vec![RECORD_VERSION];
            for n in [count, 0, 0, 0] {
                put_varint(&mut out, n);
            }
            for e in extents {
                put_varint(&mut out, e.len);
                put_varint(
                    &mut out,
                    if let Source::Feed(b) = e.source {
                        b + 1
                    } else {
                        0
                    },
                );
            }
            out
        };
        let most = MAX_RECORD_EXTENTS as u64;
        let (_, layout) = decode_record(&record(most)).expect("at the cap");
        assert_eq!(layout.extents().len(), MAX_RECORD_EXTENTS);
        assert_eq!(
            decode_record(&record(most + 1)),
            Err("too many extents in an extent record")
        );
    }
}
