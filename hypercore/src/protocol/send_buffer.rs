//! The session's outgoing bytes: encrypted frames waiting for the transport.
//!
//! Frames are written straight into reusable chunks and encrypted there, and the transport writes
//! from the chunks, so a block read from storage into its frame is not copied again before the
//! socket. A frame never straddles two chunks. Written chunks are kept for reuse (a few), so
//! steady sending neither allocates nor zeroes memory; what is queued is bounded by the caller
//! (replication stops pulling messages over its high-water mark).

use std::collections::VecDeque;
use std::io::IoSlice;

/// Size of a fresh chunk: room for a 64 KiB block frame with its proof, and the small frames
/// around it.
const CHUNK: usize = 192 * 1024;

/// Written chunks kept for reuse.
const MAX_SPARE: usize = 4;

/// Chunks larger than this (made for one huge frame) are not kept once written.
const MAX_KEPT: usize = 1024 * 1024;

#[derive(Debug)]
struct Chunk {
    /// Initialized memory, reused as is; `start..end` is queued.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// A queue of outgoing bytes in reusable chunks.
#[derive(Debug, Default)]
pub(crate) struct SendBuffer {
    chunks: VecDeque<Chunk>,
    spare: Vec<Vec<u8>>,
    len: usize,
}

impl SendBuffer {
    /// Bytes queued.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues `n` more bytes and returns them to be written (their old contents are garbage).
    pub(crate) fn push(&mut self, n: usize) -> &mut [u8] {
        if n == 0 {
            return &mut [];
        }
        let fits = self.chunks.back().is_some_and(|c| c.buf.len() - c.end >= n);
        if !fits {
            let buf = match self.spare.iter().position(|b| b.len() >= n) {
                Some(i) => self.spare.swap_remove(i),
                None => vec![0; n.max(CHUNK)],
            };
            self.chunks.push_back(Chunk {
                buf,
                start: 0,
                end: 0,
            });
        }
        self.len += n;
        let Some(chunk) = self.chunks.back_mut() else {
            return &mut [];
        };
        let at = chunk.end;
        chunk.end += n;
        &mut chunk.buf[at..at + n]
    }

    /// Takes back the last `n` bytes queued by [`push`](Self::push) (a frame that could not be
    /// completed).
    pub(crate) fn unpush(&mut self, n: usize) {
        if let Some(chunk) = self.chunks.back_mut() {
            let n = n.min(chunk.end - chunk.start);
            chunk.end -= n;
            self.len -= n;
            if chunk.start == chunk.end
                && let Some(empty) = self.chunks.pop_back()
            {
                self.recycle(empty.buf);
            }
        }
    }

    /// Queues a copy of `bytes`.
    pub(crate) fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.push(bytes.len()).copy_from_slice(bytes);
    }

    /// Fills `slices` with the queued bytes in order; returns how many it filled.
    pub(crate) fn io_slices<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, chunk) in slices.iter_mut().zip(&self.chunks) {
            *slot = IoSlice::new(&chunk.buf[chunk.start..chunk.end]);
            n += 1;
        }
        n
    }

    /// Drops the first `n` queued bytes (the transport took them).
    pub(crate) fn consume(&mut self, mut n: usize) {
        n = n.min(self.len);
        self.len -= n;
        while n > 0 {
            let Some(chunk) = self.chunks.front_mut() else {
                return;
            };
            let take = n.min(chunk.end - chunk.start);
            chunk.start += take;
            n -= take;
            if chunk.start == chunk.end
                && let Some(done) = self.chunks.pop_front()
            {
                self.recycle(done.buf);
            }
        }
    }

    /// Takes everything queued as one buffer.
    pub(crate) fn take_all(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        while let Some(chunk) = self.chunks.pop_front() {
            out.extend_from_slice(&chunk.buf[chunk.start..chunk.end]);
            self.recycle(chunk.buf);
        }
        self.len = 0;
        out
    }

    /// Drops everything queued.
    pub(crate) fn clear(&mut self) {
        while let Some(chunk) = self.chunks.pop_front() {
            self.recycle(chunk.buf);
        }
        self.len = 0;
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        if self.spare.len() < MAX_SPARE && buf.len() <= MAX_KEPT {
            self.spare.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn queued(b: &SendBuffer) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); 64];
        let n = b.io_slices(&mut slices);
        slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Pushes and partial consumes keep the bytes in order, whatever the sizes.
        #[test]
        fn bytes_come_out_in_order(
            steps in proptest::collection::vec((0usize..250_000, 0usize..300_000, any::<bool>()), 1..12),
        ) {
            let mut b = SendBuffer::default();
            let mut model: Vec<u8> = Vec::new();
            let mut next = 0u8;
            for (push, consume, undo) in steps {
                let bytes: Vec<u8> = (0..push).map(|i| next.wrapping_add(i as u8)).collect();
                next = next.wrapping_add(1);
                b.push(push).copy_from_slice(&bytes);
                if undo {
                    b.unpush(push);
                } else {
                    model.extend_from_slice(&bytes);
                }
                prop_assert_eq!(b.len(), model.len());
                prop_assert!(queued(&b) == model);
                let consume = consume.min(model.len());
                b.consume(consume);
                model.drain(..consume);
                prop_assert_eq!(b.len(), model.len());
                prop_assert!(b.spare.len() <= MAX_SPARE);
            }
            prop_assert!(b.take_all() == model);
            prop_assert!(b.is_empty());
        }
    }

    #[test]
    fn written_chunks_are_reused_not_reallocated() {
        let mut b = SendBuffer::default();
        b.push(70_000).fill(1);
        b.consume(70_000);
        let first = b.spare.first().map(|s| s.as_ptr());
        assert!(first.is_some());
        b.push(70_000);
        assert_eq!(b.chunks.front().map(|c| c.buf.as_ptr()), first);
    }

    #[test]
    fn a_huge_chunk_is_not_kept() {
        let mut b = SendBuffer::default();
        b.push(MAX_KEPT + 1);
        b.clear();
        assert!(b.spare.is_empty());
    }
}
