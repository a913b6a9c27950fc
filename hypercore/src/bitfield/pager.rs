//! Fixed-size pages, allocated on first write (`memory-pager`).

/// Pages of one bitfield file; `None` is a page never allocated (all zero).
#[derive(Debug)]
pub(crate) struct Pager {
    page_size: usize,
    pages: Vec<Option<Box<[u8]>>>,
    dirty: Vec<usize>,
    is_dirty: Vec<bool>,
}

impl Pager {
    pub(crate) fn new(page_size: usize) -> Self {
        Pager {
            page_size,
            pages: Vec::new(),
            dirty: Vec::new(),
            is_dirty: Vec::new(),
        }
    }

    /// Number of pages, counting the highest one ever touched (`pager.length`).
    pub(crate) fn len(&self) -> usize {
        self.pages.len()
    }

    pub(crate) fn page_size(&self) -> usize {
        self.page_size
    }

    /// Installs a page read from disk; an all-zero page stays unallocated, as in JS.
    pub(crate) fn load(&mut self, i: usize, mut buf: Vec<u8>) {
        self.grow(i);
        buf.resize(self.page_size, 0);
        self.pages[i] = (!buf.iter().all(|b| *b == 0)).then(|| buf.into_boxed_slice());
    }

    /// The page, if allocated.
    pub(crate) fn get(&self, i: usize) -> Option<&[u8]> {
        self.pages.get(i).and_then(|p| p.as_deref())
    }

    /// The page, allocating it (and counting it in `len`) if needed.
    pub(crate) fn get_mut(&mut self, i: usize) -> &mut [u8] {
        self.grow(i);
        let size = self.page_size;
        self.pages[i].get_or_insert_with(|| vec![0u8; size].into_boxed_slice())
    }

    pub(crate) fn mark_dirty(&mut self, i: usize) {
        if !self.is_dirty[i] {
            self.is_dirty[i] = true;
            self.dirty.push(i);
        }
    }

    /// Changed pages since the last call, each with its bytes.
    pub(crate) fn take_dirty(&mut self) -> Vec<(usize, &[u8])> {
        let mut list = std::mem::take(&mut self.dirty);
        list.sort_unstable();
        for &i in &list {
            self.is_dirty[i] = false;
        }
        list.into_iter()
            .filter_map(|i| self.get(i).map(|p| (i, p)))
            .collect()
    }

    fn grow(&mut self, i: usize) {
        if i >= self.pages.len() {
            self.pages.resize_with(i + 1, || None);
            self.is_dirty.resize(i + 1, false);
        }
    }
}
