//! Hard links: several names of one file inside a drive ([`Drive::link`]).
//!
//! Every name is an ordinary node holding a full copy of the file's Stat (so Node reads each
//! as a plain file with the same content), tagged in its metadata under [`LINK_KEY`] with the
//! link's id and link count. The names themselves are listed in a hidden node
//! `ddrive-links/<id>` (the record). Every change of the Stat through this crate (writes,
//! truncates, attribute and metadata changes, link and unlink) puts the new Stat under every
//! name in one trie batch, so no signed version shows the names disagreeing.
//!
//! A name belongs to the link when the record lists it *and* its Stat still carries the id:
//! a name that Node rewrote or deleted (Node knows nothing of links) leaves the link at the
//! next update instead of being overwritten.
//!
//! Formats (varints are protobuf's little-endian base-128):
//! ```text
//! tag (Stat metadata, key "ddrive:link"):  0x01, varint id, varint nlink
//! record (hidden key "ddrive-links/<id in decimal>"):  0x01, repeated (varint len, name)
//! ```
//! where a name is the trie key (no leading `/`) in the drive that holds the nodes.

use hypertrie::{BatchOp, GetOptions};

use crate::drive::Drive;
use crate::error::{Error, Result};
use crate::fs::decode_stat;
use crate::path::fix_name;
use crate::proto::{get_varint, put_varint};
use crate::resolve::Found;
use crate::stat::{Stat, mode};

/// Metadata key of a hard-linked file's tag (the link id and count); reserved.
pub const LINK_KEY: &str = "ddrive:link";

/// Hidden trie prefix of the link records.
const RECORDS: &str = "ddrive-links/";

/// Most names one file may have (EMLINK past it): every update of the file re-puts its Stat
/// under every name, so the count bounds the cost of each write.
pub const MAX_HARD_LINKS: usize = 1000;

/// Most bytes of one record's names: a record is one trie node, which must stay small.
const MAX_RECORD_BYTES: usize = 1 << 20;

const FORMAT: u8 = 1;

/// A Stat's link tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tag {
    id: u64,
    nlink: u64,
}

fn encode_tag(tag: Tag) -> Vec<u8> {
    let mut out = vec![FORMAT];
    put_varint(&mut out, tag.id);
    put_varint(&mut out, tag.nlink);
    out
}

fn decode_tag(buf: &[u8]) -> Option<Tag> {
    let rest = buf.strip_prefix(&[FORMAT])?;
    let (id, n) = get_varint(rest)?;
    let (nlink, m) = get_varint(rest.get(n..)?)?;
    (n + m == rest.len()).then_some(Tag { id, nlink })
}

fn encode_record(names: &[String]) -> Vec<u8> {
    let mut out = vec![FORMAT];
    for name in names {
        put_varint(&mut out, name.len() as u64);
        out.extend_from_slice(name.as_bytes());
    }
    out
}

fn decode_record(buf: &[u8]) -> Result<Vec<String>, &'static str> {
    let mut rest = buf
        .strip_prefix(&[FORMAT])
        .ok_or("unknown link record format")?;
    let mut names = Vec::new();
    while !rest.is_empty() {
        if names.len() == MAX_HARD_LINKS {
            return Err("too many names in a link record");
        }
        let (len, n) = get_varint(rest).ok_or("bad name length")?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| n.checked_add(len))
            .filter(|&end| end <= rest.len())
            .ok_or("name past the record's end")?;
        let name = std::str::from_utf8(&rest[n..end]).map_err(|_| "name is not UTF-8")?;
        names.push(name.to_owned());
        rest = &rest[end..];
    }
    Ok(names)
}

fn record_key(id: u64) -> String {
    format!("{RECORDS}{id}")
}

impl Stat {
    /// How many names the file has: its hard links ([`Drive::link`]), 1 for anything else.
    pub fn nlink(&self) -> u64 {
        self.link_tag().map_or(1, |t| t.nlink)
    }

    /// The id every name of a hard-linked file shares (unique within its drive), for a
    /// filesystem layer that gives the names one inode number; `None` for a file with one name.
    pub fn link_id(&self) -> Option<u64> {
        self.link_tag().map(|t| t.id)
    }

    /// The hard-link tag, if the Stat carries one.
    pub(crate) fn link_tag(&self) -> Option<Tag> {
        decode_tag(self.metadata.get(LINK_KEY)??)
    }

    /// This Stat with `tag` (or, for `None`, without any tag).
    fn tagged(mut self, tag: Option<Tag>) -> Stat {
        match tag {
            Some(tag) => self.metadata.set(LINK_KEY, Some(encode_tag(tag))),
            None => self.metadata.remove(LINK_KEY),
        }
        self
    }
}

/// Everything an update of a linked file needs: the drive holding the names and the names.
struct Members {
    owner: Drive,
    id: u64,
    /// Trie keys in `owner`, the updated name among them.
    names: Vec<String>,
}

impl Members {
    /// The batch that makes every name hold `stat` (the record too), or, for a file left with
    /// one name, drops the record and the tag so it is an ordinary file again.
    fn ops(&self, stat: Stat) -> Result<Vec<BatchOp>> {
        let mut ops = Vec::with_capacity(self.names.len() + 1);
        if self.names.len() < 2 {
            ops.push(BatchOp::del(record_key(self.id)).hidden(true));
            let value = stat.tagged(None).encode();
            ops.extend(
                self.names
                    .iter()
                    .map(|name| BatchOp::put(name.as_str(), value.clone())),
            );
            return Ok(ops);
        }
        let record = encode_record(&self.names);
        if record.len() > MAX_RECORD_BYTES {
            return Err(Error::TooManyLinks(format!(
                "the names of link {} take {} bytes",
                self.id,
                record.len()
            )));
        }
        ops.push(BatchOp::put(record_key(self.id), record).hidden(true));
        let tag = Tag {
            id: self.id,
            nlink: self.names.len() as u64,
        };
        let value = stat.tagged(Some(tag)).encode();
        ops.extend(
            self.names
                .iter()
                .map(|name| BatchOp::put(name.as_str(), value.clone())),
        );
        Ok(ops)
    }

    /// The Stat every name shows after [`Members::ops`] with `stat`.
    fn shown(&self, stat: Stat) -> Stat {
        let tag = (self.names.len() >= 2).then_some(Tag {
            id: self.id,
            nlink: self.names.len() as u64,
        });
        stat.tagged(tag)
    }
}

impl Drive {
    /// The names of link `id` in this drive (the holder of the nodes) that still carry it.
    fn link_names(&self, id: u64) -> Result<Vec<String>> {
        let key = record_key(id);
        let Some(node) = self.trie_get(&key, GetOptions::default().hidden(true))? else {
            return Ok(Vec::new());
        };
        let listed =
            decode_record(node.value().unwrap_or(&[])).map_err(|reason| Error::Corrupt {
                what: "link record",
                path: key,
                reason,
            })?;
        let mut names = Vec::with_capacity(listed.len());
        for name in listed {
            let Some(node) = self.trie_get(&name, GetOptions::default())? else {
                continue;
            };
            let carries = Stat::decode(node.value().unwrap_or(&[]))
                .ok()
                .and_then(|s| s.link_tag())
                .is_some_and(|t| t.id == id);
            if carries && !names.contains(&name) {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// The link a found node belongs to, if its Stat is tagged and the record agrees.
    fn members(found: &Found, stat: &Stat) -> Result<Option<Members>> {
        let Some(tag) = stat.link_tag() else {
            return Ok(None);
        };
        let key = found.node.key().to_owned();
        let names = found.drive.link_names(tag.id)?;
        if !names.contains(&key) {
            return Ok(None);
        }
        Ok(Some(Members {
            owner: found.drive.clone(),
            id: tag.id,
            names,
        }))
    }

    /// Makes `new` another name of the file at `existing` (POSIX `link`; a symlink at
    /// `existing` is linked itself, as Linux does). Both names then show the same Stat, kept
    /// the same by every later change; [`Stat::nlink`] counts them and [`Drive::unlink`]
    /// removes one. Returns the Stat both names now hold (its ctime is *now*).
    ///
    /// Errors: ENOENT (no `existing`), EEXIST (`new` exists), EPERM (`existing` is a
    /// directory or mount point), EXDEV (the names fall in different drives through mounts),
    /// EMLINK (more than [`MAX_HARD_LINKS`] names), EACCES (read-only).
    pub fn link(&self, existing: &str, new: &str) -> Result<Stat> {
        self.ensure_writable()?;
        let from = fix_name(existing);
        let to = fix_name(new);
        let src = self
            .resolve(&from)?
            .ok_or_else(|| Error::NotFound(from.clone()))?;
        let stat = decode_stat(&src)?;
        if stat.file_type() == mode::S_IFDIR || stat.mount.is_some() {
            return Err(Error::NotPermitted(format!(
                "{from} is a directory or mount point and cannot be linked"
            )));
        }
        match self.lstat_located(&to, false) {
            Ok(_) => return Err(Error::AlreadyExists(to)),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let (to_owner, to_key) = self.owner(&to)?;
        if src.drive.key() != to_owner.key() || src.drive.checkout != to_owner.checkout {
            return Err(Error::CrossDevice(format!("link {from} -> {to}")));
        }
        let owner = src.drive.clone();
        owner.ensure_writable()?;
        let mut members = match Self::members(&src, &stat)? {
            Some(members) => members,
            None => Members {
                // The version is unique for the drive's lifetime: ids never repeat.
                id: owner.version(),
                names: vec![src.node.key().to_owned()],
                owner,
            },
        };
        if members.names.len() >= MAX_HARD_LINKS {
            return Err(Error::TooManyLinks(from));
        }
        members.names.push(to_key);
        let stat = Stat {
            ctime: self.now(),
            ..stat
        };
        members.owner.batch(members.ops(stat.clone())?)?;
        Ok(members.shown(stat))
    }

    /// Puts `stat` as the Stat of the file at `name`: under every name when it is one of
    /// several hard links. Any link tag in `stat` is replaced by the file's own, so a tag is
    /// never copied onto another file. Returns the Stat as stored.
    pub(crate) fn put_file_stat(&self, name: &str, stat: Stat, flags: u64) -> Result<Stat> {
        let current = self.resolve(name)?;
        if let Some(found) = &current {
            let old = decode_stat(found);
            if let Ok(old) = old
                && let Some(members) = Self::members(found, &old)?
            {
                members.owner.batch(members.ops(stat.clone())?)?;
                return Ok(members.shown(stat));
            }
        }
        let stat = stat.tagged(None);
        self.put_node(name, stat.encode(), flags, false)?;
        Ok(stat)
    }

    /// Removes the name `name` of a file with several names, updating the others' count;
    /// `false` (nothing done) when `name` is not such a name.
    pub(crate) fn unlink_link(&self, name: &str) -> Result<bool> {
        let Some(found) = self.resolve(name)? else {
            return Ok(false);
        };
        let Ok(stat) = decode_stat(&found) else {
            return Ok(false);
        };
        let Some(mut members) = Self::members(&found, &stat)? else {
            return Ok(false);
        };
        let key = found.node.key();
        members.names.retain(|n| n != key);
        let stat = Stat {
            ctime: self.now(),
            ..stat
        };
        let mut ops = members.ops(stat)?;
        ops.push(BatchOp::del(key));
        members.owner.ensure_writable()?;
        members.owner.batch(ops)?;
        Ok(true)
    }

    /// The record updates a rename in this drive (the owner of both sides) needs, added to
    /// its batch: linked names among `moved` ((old key, new key, value) of each moved node)
    /// are renamed in their records, and a linked file `replaced` by the rename (its key)
    /// loses that name. Returns the extra operations.
    pub(crate) fn rename_link_ops(
        &self,
        moved: &[(String, String, Vec<u8>)],
        replaced: Option<&str>,
    ) -> Result<Vec<BatchOp>> {
        let mut ops = Vec::new();
        let mut renamed: Vec<(u64, Vec<String>)> = Vec::new();
        for (old, new, value) in moved {
            let Some(tag) = Stat::decode(value).ok().and_then(|s| s.link_tag()) else {
                continue;
            };
            let at = match renamed.iter().position(|(id, _)| *id == tag.id) {
                Some(at) => at,
                None => {
                    renamed.push((tag.id, self.link_names(tag.id)?));
                    renamed.len() - 1
                }
            };
            for name in renamed[at].1.iter_mut() {
                if name == old {
                    new.clone_into(name);
                }
            }
        }
        for (id, names) in renamed {
            if names.len() >= 2 {
                ops.push(BatchOp::put(record_key(id), encode_record(&names)).hidden(true));
            }
        }
        if let Some(key) = replaced
            && let Some(node) = self.trie_get(key, GetOptions::default())?
            && let Ok(stat) = Stat::decode(node.value().unwrap_or(&[]))
            && let Some(tag) = stat.link_tag()
        {
            let mut names = self.link_names(tag.id)?;
            if names.iter().any(|n| n == key) {
                names.retain(|n| n != key);
                let members = Members {
                    owner: self.clone(),
                    id: tag.id,
                    names,
                };
                let stat = Stat {
                    ctime: self.now(),
                    ..stat
                };
                // The replaced name itself is overwritten by the rename's own put.
                ops.extend(members.ops(stat)?);
            }
        }
        Ok(ops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_and_record_round_trip_and_refuse_garbage() {
        let tag = Tag { id: 300, nlink: 2 };
        assert_eq!(decode_tag(&encode_tag(tag)), Some(tag));
        assert_eq!(decode_tag(&[2, 1, 1]), None);
        assert_eq!(decode_tag(&[1, 1, 1, 0]), None);
        let names = vec!["a/b".to_owned(), "ü".to_owned()];
        assert_eq!(decode_record(&encode_record(&names)), Ok(names));
        assert!(decode_record(&[1, 5, b'a']).is_err());
        assert!(
            decode_record(&[
                1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
            ])
            .is_err()
        );
    }
}
