//! What one remote peer has told us it holds (minus what we hold ourselves), as a paged bitfield.

use std::collections::BTreeMap;

/// Blocks per page: 8192, the unit JS answers `Want`s in.
pub(crate) const PAGE_BITS: u64 = 8192;
pub(crate) const PAGE_BYTES: usize = (PAGE_BITS / 8) as usize;

/// Pages one peer may make us keep (8 Mi blocks, 1 MiB): past this, new pages are ignored, so a
/// peer announcing scattered blocks cannot grow our memory without bound.
pub(crate) const MAX_PAGES: usize = 1024;

/// Pages one range operation visits at most: one `Want` region (2^20 blocks), the most a `Have`
/// bitfield may carry. A `Have` naming more is recorded for its first region; the rest is
/// learnt from the bitfields the `Want`s for later regions bring back.
pub(crate) const MAX_PAGES_PER_CALL: u64 = 128;

/// A sparse bitfield, block `i` at bit `0x80 >> (i & 7)` of byte `i >> 3` like the wire's.
#[derive(Debug, Default)]
pub(crate) struct RemoteBits {
    pages: BTreeMap<u64, Box<[u8; PAGE_BYTES]>>,
    page_ops: u64,
}

impl RemoteBits {
    pub(crate) fn get(&self, i: u64) -> bool {
        self.pages
            .get(&(i / PAGE_BITS))
            .is_some_and(|p| p[byte_of(i)] & mask_of(i) != 0)
    }

    /// Sets or clears bit `i`; `false` when setting was refused because the page cap is reached.
    pub(crate) fn set(&mut self, i: u64, value: bool) -> bool {
        let page = i / PAGE_BITS;
        if !value {
            if let Some(p) = self.pages.get_mut(&page) {
                p[byte_of(i)] &= !mask_of(i);
                if p.iter().all(|&b| b == 0) {
                    self.pages.remove(&page);
                }
            }
            return true;
        }
        let Some(p) = self.page_mut(page) else {
            return false;
        };
        p[byte_of(i)] |= mask_of(i);
        true
    }

    /// Page `page`, made (zeroed) if new; `None` when a new page would pass the cap.
    fn page_mut(&mut self, page: u64) -> Option<&mut [u8; PAGE_BYTES]> {
        if !self.pages.contains_key(&page) && self.pages.len() >= MAX_PAGES {
            return None;
        }
        Some(
            self.pages
                .entry(page)
                .or_insert_with(|| Box::new([0; PAGE_BYTES])),
        )
    }

    /// Sets the bits of blocks `[start, end)` that `src` sets (every one when `src` is `None`;
    /// else bit `0x80 >> (j & 7)` of `src[j / 8]` is block `start + j`, and `start` is a multiple
    /// of 8), except the blocks `local` says we hold: `local(first_byte, page)` fills `page` with
    /// our bitfield bytes from `first_byte`. Works a page at a time and visits at most
    /// [`MAX_PAGES_PER_CALL`] pages, so one message costs a bounded number of page copies
    /// whatever range it names; new pages stop at the cap. Returns the pages visited.
    pub(crate) fn set_range(
        &mut self,
        start: u64,
        end: u64,
        src: Option<&[u8]>,
        local: &mut dyn FnMut(u64, &mut [u8]),
    ) -> u64 {
        if start >= end {
            return 0;
        }
        debug_assert!(src.is_none() || start.is_multiple_of(8));
        let last = (end - 1) / PAGE_BITS;
        let mut page = start / PAGE_BITS;
        let mut visited = 0;
        let mut held = [0u8; PAGE_BYTES];
        while page <= last && visited < MAX_PAGES_PER_CALL {
            if !self.pages.contains_key(&page) && self.pages.len() >= MAX_PAGES {
                // No new page fits: only pages already held can still gain bits.
                match self
                    .pages
                    .range(page + 1..)
                    .next()
                    .filter(|(p, _)| **p <= last)
                {
                    Some((&next, _)) => {
                        page = next;
                        continue;
                    }
                    None => break,
                }
            }
            visited += 1;
            let base = page * PAGE_BITS;
            let (lo, hi) = (start.max(base), end.min(base + PAGE_BITS));
            local(base / 8, &mut held);
            let bytes = self
                .pages
                .entry(page)
                .or_insert_with(|| Box::new([0; PAGE_BYTES]));
            for b in lo / 8..=(hi - 1) / 8 {
                let mut mask = range_mask(b, lo, hi);
                if let Some(src) = src {
                    mask &= src
                        .get(((b * 8 - start) / 8) as usize)
                        .copied()
                        .unwrap_or(0);
                }
                let at = (b - base / 8) as usize;
                bytes[at] |= mask & !held[at];
            }
            if bytes.iter().all(|&b| b == 0) {
                self.pages.remove(&page);
            }
            page += 1;
        }
        self.page_ops += visited;
        visited
    }

    /// Clears blocks `[start, end)`: pages wholly inside go at once, so the cost is the pages
    /// held, never the length of the range. Returns the pages visited.
    pub(crate) fn clear_range(&mut self, start: u64, end: u64) -> u64 {
        if start >= end {
            return 0;
        }
        let (first, last) = (start / PAGE_BITS, (end - 1) / PAGE_BITS);
        let held: Vec<u64> = self.pages.range(first..=last).map(|(&p, _)| p).collect();
        for &page in &held {
            let base = page * PAGE_BITS;
            let (lo, hi) = (start.max(base), end.min(base + PAGE_BITS));
            if lo == base && hi == base + PAGE_BITS {
                self.pages.remove(&page);
                continue;
            }
            if let Some(bytes) = self.pages.get_mut(&page) {
                for b in lo / 8..=(hi - 1) / 8 {
                    bytes[(b - base / 8) as usize] &= !range_mask(b, lo, hi);
                }
                if bytes.iter().all(|&b| b == 0) {
                    self.pages.remove(&page);
                }
            }
        }
        self.page_ops += held.len() as u64;
        held.len() as u64
    }

    /// Clears every bit.
    pub(crate) fn clear(&mut self) {
        self.pages.clear();
    }

    /// Pages held (each [`PAGE_BITS`] blocks, 1 KiB).
    pub(crate) fn pages(&self) -> usize {
        self.pages.len()
    }

    /// Pages visited by range operations so far: the work peers' messages caused.
    pub(crate) fn page_ops(&self) -> u64 {
        self.page_ops
    }

    /// The first set bit in `[from, end)`.
    pub(crate) fn next_set(&self, from: u64, end: u64) -> Option<u64> {
        for (&page, bytes) in self.pages.range(from / PAGE_BITS..) {
            let base = page * PAGE_BITS;
            if base >= end {
                return None;
            }
            let first = from.saturating_sub(base).min(PAGE_BITS);
            let mut i = first;
            while i < PAGE_BITS {
                let byte = bytes[(i / 8) as usize];
                if byte == 0 {
                    i = (i / 8 + 1) * 8;
                    continue;
                }
                if byte & mask_of(i) != 0 {
                    let at = base + i;
                    return (at < end).then_some(at);
                }
                i += 1;
            }
        }
        None
    }
}

/// The bits of byte `b` (blocks `[8b, 8b + 8)`, wire order) that fall in `[lo, hi)`.
fn range_mask(b: u64, lo: u64, hi: u64) -> u8 {
    let first = b * 8;
    let from = lo.saturating_sub(first).min(8);
    let to = hi.saturating_sub(first).min(8);
    ((0xffu16 >> from) & !(0xffu16 >> to)) as u8
}

fn byte_of(i: u64) -> usize {
    ((i % PAGE_BITS) / 8) as usize
}

fn mask_of(i: u64) -> u8 {
    0x80 >> (i & 7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_scan() {
        let mut b = RemoteBits::default();
        assert_eq!(b.next_set(0, u64::MAX), None);
        b.set_range(3, 20, None, &mut |_, _| {});
        b.set(9000, true);
        assert!(b.get(3) && b.get(19) && !b.get(20) && !b.get(2));
        assert_eq!(b.next_set(0, 100), Some(3));
        assert_eq!(b.next_set(20, 100), None);
        assert_eq!(b.next_set(20, 9001), Some(9000));
        b.set(9000, false);
        b.clear();
        assert!(!b.get(3));
    }

    #[test]
    fn bytes_go_in_wire_order() {
        let mut b = RemoteBits::default();
        b.set_range(16, 24, Some(&[0b1000_0001]), &mut |_, p| p.fill(0));
        b.set_range(16, 24, Some(&[0b0100_0000]), &mut |_, p| p.fill(0));
        assert!(b.get(16) && b.get(17) && b.get(23));
        assert!(!b.get(18) && !b.get(15) && !b.get(24));
        assert_eq!(b.next_set(0, 100), Some(16));
        b.set_range(
            PAGE_BITS * 3,
            PAGE_BITS * 3 + 8,
            Some(&[0x01]),
            &mut |_, p| p.fill(0),
        );
        assert_eq!(b.next_set(24, u64::MAX), Some(PAGE_BITS * 3 + 7));
    }

    #[test]
    fn capped() {
        let mut b = RemoteBits::default();
        for p in 0..(MAX_PAGES as u64 + 10) {
            b.set(p * PAGE_BITS, true);
        }
        assert_eq!(b.pages.len(), MAX_PAGES);
        let far = PAGE_BITS * (MAX_PAGES as u64 + 20);
        b.set_range(far, far + 8, None, &mut |_, p| p.fill(0));
        assert!(!b.get(far));
        let visited = b.set_range(0, u64::MAX / 2, None, &mut |_, _| {});
        assert!(visited <= MAX_PAGES_PER_CALL);
        assert!(b.pages.len() <= MAX_PAGES);
    }

    #[test]
    fn ranges_skip_what_we_hold_and_clear_by_page() {
        let mut b = RemoteBits::default();
        // We hold blocks 0..16 and 8192..8200: never recorded as the peer's.
        let mut local = |first: u64, page: &mut [u8]| {
            page.fill(0);
            if first == 0 {
                page[..2].fill(0xff);
            } else if first == PAGE_BYTES as u64 {
                page[0] = 0xff;
            }
        };
        b.set_range(4, 3 * PAGE_BITS, None, &mut local);
        assert!(!b.get(4) && !b.get(15) && b.get(16) && !b.get(PAGE_BITS + 7));
        assert!(b.get(PAGE_BITS + 8) && b.get(3 * PAGE_BITS - 1) && !b.get(3 * PAGE_BITS));
        // A bitfield: blocks 24 and 31 of the byte at block 24.
        let mut c = RemoteBits::default();
        c.set_range(16, 40, Some(&[0x00, 0x81, 0xff]), &mut |_, p| p.fill(0));
        assert!(c.get(24) && c.get(31) && !c.get(25) && c.get(32) && !c.get(16));
        // Clearing a huge range costs the pages held, not its length.
        assert_eq!(b.clear_range(PAGE_BITS + 100, u64::MAX), 2);
        assert!(b.get(PAGE_BITS + 99) && !b.get(PAGE_BITS + 100) && b.pages() == 2);
        assert_eq!(b.clear_range(0, u64::MAX), 2);
        assert_eq!(b.pages(), 0);
    }
}
