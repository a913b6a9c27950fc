//! One sub-bitfield (data, tree or index) over a region of every page (`sparse-bitfield`).

use super::Pager;

/// A bit array stored in `[offset, offset + page_size)` of each pager page.
#[derive(Debug)]
pub(crate) struct View {
    page_size: usize,
    page_offset: usize,
    /// `sparse-bitfield`'s `byteLength`: pages at construction, then one past the highest byte set.
    byte_len: u64,
}

impl View {
    pub(crate) fn new(pager: &Pager, page_size: usize, page_offset: usize) -> Self {
        View {
            page_size,
            page_offset,
            byte_len: (pager.len() * page_size) as u64,
        }
    }

    pub(crate) fn page_size(&self) -> usize {
        self.page_size
    }

    /// Length in bits (`8 * byteLength`).
    pub(crate) fn bit_len(&self) -> u64 {
        8 * self.byte_len
    }

    fn locate(&self, i: u64) -> (usize, usize) {
        let ps = self.page_size as u64;
        ((i / ps) as usize, (i % ps) as usize + self.page_offset)
    }

    pub(crate) fn get_byte(&self, pager: &Pager, i: u64) -> u8 {
        let (page, o) = self.locate(i);
        pager.get(page).map_or(0, |p| p[o])
    }

    /// Writes byte `i`, allocating its page even when the value is unchanged (as JS does).
    pub(crate) fn set_byte(&mut self, pager: &mut Pager, i: u64, b: u8) -> bool {
        let (page, o) = self.locate(i);
        let buf = pager.get_mut(page);
        if buf[o] == b {
            return false;
        }
        buf[o] = b;
        if i >= self.byte_len {
            self.byte_len = i + 1;
        }
        pager.mark_dirty(page);
        true
    }

    /// Copies bytes `[first, first + out.len())` into `out` a page slice at a time (unallocated
    /// pages read as zeros).
    #[cfg_attr(not(feature = "protocol"), allow(dead_code))]
    pub(crate) fn copy_bytes(&self, pager: &Pager, first: u64, out: &mut [u8]) {
        let mut at = 0;
        while at < out.len() {
            let (page, o) = self.locate(first + at as u64);
            let take = (self.page_size - (o - self.page_offset)).min(out.len() - at);
            let dst = &mut out[at..at + take];
            match pager.get(page) {
                Some(p) => dst.copy_from_slice(&p[o..o + take]),
                None => dst.fill(0),
            }
            at += take;
        }
    }

    pub(crate) fn get(&self, pager: &Pager, i: u64) -> bool {
        self.get_byte(pager, i / 8) & (128 >> (i & 7)) != 0
    }

    pub(crate) fn set(&mut self, pager: &mut Pager, i: u64, v: bool) -> bool {
        let j = i / 8;
        let mask = 128u8 >> (i & 7);
        let b = self.get_byte(pager, j);
        self.set_byte(pager, j, if v { b | mask } else { b & !mask })
    }
}
