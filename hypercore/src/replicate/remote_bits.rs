//! What one remote peer has told us it holds (minus what we hold ourselves), as a paged bitfield.

use std::collections::BTreeMap;

/// Blocks per page: 8192, the unit JS answers `Want`s in.
pub(crate) const PAGE_BITS: u64 = 8192;
const PAGE_BYTES: usize = (PAGE_BITS / 8) as usize;

/// Pages one peer may make us keep (8 Mi blocks, 1 MiB): past this, new pages are ignored, so a
/// peer announcing scattered blocks cannot grow our memory without bound.
pub(crate) const MAX_PAGES: usize = 1024;

/// A sparse bitfield, block `i` at bit `0x80 >> (i & 7)` of byte `i >> 3` like the wire's.
#[derive(Debug, Default)]
pub(crate) struct RemoteBits {
    pages: BTreeMap<u64, Box<[u8; PAGE_BYTES]>>,
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

    /// Sets the bits of `byte` (wire order) for blocks `[i, i + 8)`, `i` a multiple of 8;
    /// `false` when the page cap refused a new page.
    pub(crate) fn or_byte(&mut self, i: u64, byte: u8) -> bool {
        debug_assert!(i.is_multiple_of(8));
        let page = i / PAGE_BITS;
        let Some(p) = self.page_mut(page) else {
            return false;
        };
        p[byte_of(i)] |= byte;
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

    /// Sets `[start, end)`; stops at the page cap.
    pub(crate) fn set_range(&mut self, start: u64, end: u64) {
        let mut i = start;
        while i < end {
            // Whole bytes at a time where aligned.
            if i.is_multiple_of(8) && end - i >= 8 {
                let page = i / PAGE_BITS;
                if !self.pages.contains_key(&page) && self.pages.len() >= MAX_PAGES {
                    return;
                }
                let p = self
                    .pages
                    .entry(page)
                    .or_insert_with(|| Box::new([0; PAGE_BYTES]));
                p[byte_of(i)] = 0xff;
                i += 8;
                continue;
            }
            if !self.set(i, true) {
                return;
            }
            i += 1;
        }
    }

    /// Clears every bit.
    pub(crate) fn clear(&mut self) {
        self.pages.clear();
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
        b.set_range(3, 20);
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
        assert!(b.or_byte(16, 0b1000_0001));
        assert!(b.or_byte(16, 0b0100_0000));
        assert!(b.get(16) && b.get(17) && b.get(23));
        assert!(!b.get(18) && !b.get(15) && !b.get(24));
        assert_eq!(b.next_set(0, 100), Some(16));
        assert!(b.or_byte(PAGE_BITS * 3, 0x01));
        assert_eq!(b.next_set(24, u64::MAX), Some(PAGE_BITS * 3 + 7));
    }

    #[test]
    fn capped() {
        let mut b = RemoteBits::default();
        for p in 0..(MAX_PAGES as u64 + 10) {
            b.set(p * PAGE_BITS, true);
        }
        assert_eq!(b.pages.len(), MAX_PAGES);
        assert!(!b.or_byte(PAGE_BITS * (MAX_PAGES as u64 + 20), 0xff));
        b.set_range(0, u64::MAX / 2); // stops at the cap instead of looping forever
        assert!(b.pages.len() <= MAX_PAGES);
    }
}
