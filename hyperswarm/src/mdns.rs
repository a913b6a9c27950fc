//! The multicast DNS packets of @hyperswarm/discovery 2 (multicast-dns 7 /
//! dns-packet 5): a small DNS codec for the records hyperswarm uses.
//!
//! Hand-written rather than taken from an mDNS crate because the bytes must
//! match dns-packet exactly: it never compresses names on write, always
//! writes the four section counts, and writes the records in the order the
//! caller lists them. Decoding follows compression pointers (other mDNS
//! stacks on a LAN do compress) and treats unknown record types as opaque.

use std::net::{Ipv4Addr, SocketAddrV4};

use thiserror::Error;

/// The IPv4 mDNS group and port multicast-dns uses.
pub const MDNS_GROUP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(224, 0, 0, 251), 5353);
/// The domain @hyperswarm/discovery appends to topic names.
pub const DOMAIN: &str = "hyperswarm.local";
/// Record type A.
pub const TYPE_A: u16 = 1;
/// Record type TXT.
pub const TYPE_TXT: u16 = 16;
/// Record type SRV.
pub const TYPE_SRV: u16 = 33;
/// Class IN.
pub const CLASS_IN: u16 = 1;
/// The QR bit of the header flags (set on responses).
pub const FLAG_RESPONSE: u16 = 0x8000;
/// The AA bit multicast-dns sets on every response.
pub const FLAG_AUTHORITATIVE: u16 = 0x0400;
/// Largest packet decoded (a UDP payload cannot be larger).
pub const MAX_PACKET: usize = 65_535;
/// Compression pointers followed per name before giving up (loop guard).
const MAX_JUMPS: usize = 32;
/// RFC 1035 limits, enforced on encode (dns-packet writes garbage instead).
const MAX_LABEL: usize = 63;
const MAX_NAME: usize = 255;

/// Why a packet could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MdnsError {
    /// The input ended inside a field.
    #[error("truncated DNS packet")]
    Truncated,
    /// A compression pointer loop, a forward pointer or too many jumps.
    #[error("bad name compression pointer")]
    BadPointer,
    /// A label over 63 bytes or a name over 255 bytes, or an empty label.
    #[error("bad DNS name")]
    BadName,
    /// A TXT string over 255 bytes or record data over 65 535 bytes.
    #[error("record data too long")]
    TooLong,
    /// More than 65 535 entries in one section.
    #[error("too many records")]
    TooMany,
    /// The packet is larger than a UDP payload.
    #[error("packet too large")]
    TooLarge,
}

/// The name @hyperswarm/discovery uses for a topic:
/// `hex(topic[0..20]) + ".hyperswarm.local"`.
pub fn topic_name(topic: &[u8; 32]) -> String {
    let mut s = String::with_capacity(40 + 1 + DOMAIN.len());
    for b in &topic[..20] {
        s.push_str(&format!("{b:02x}"));
    }
    s.push('.');
    s.push_str(DOMAIN);
    s
}

/// The name of the A record that tells a querier its own address.
pub fn referrer_name() -> String {
    format!("referrer.{DOMAIN}")
}

/// One question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// The name, without a trailing dot.
    pub name: String,
    /// The record type asked for.
    pub qtype: u16,
    /// The class (with the mDNS "unicast response" bit if set).
    pub qclass: u16,
}

/// Record data of the types hyperswarm reads or writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RData {
    /// SRV: where a topic is served.
    Srv {
        /// Priority.
        priority: u16,
        /// Weight.
        weight: u16,
        /// The TCP port.
        port: u16,
        /// Host name; `0.0.0.0` means "the packet's source address".
        target: String,
    },
    /// TXT: a list of byte strings.
    Txt(Vec<Vec<u8>>),
    /// A: an IPv4 address.
    A(Ipv4Addr),
    /// Any other type, kept as raw bytes.
    Other {
        /// The record type.
        rtype: u16,
        /// The raw data.
        data: Vec<u8>,
    },
}

impl RData {
    fn rtype(&self) -> u16 {
        match self {
            RData::Srv { .. } => TYPE_SRV,
            RData::Txt(_) => TYPE_TXT,
            RData::A(_) => TYPE_A,
            RData::Other { rtype, .. } => *rtype,
        }
    }
}

/// One resource record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The owner name, without a trailing dot.
    pub name: String,
    /// The class (with the mDNS cache-flush bit if set).
    pub class: u16,
    /// Time to live in seconds (hyperswarm writes 0).
    pub ttl: u32,
    /// The data.
    pub data: RData,
}

impl Record {
    /// A class-IN record with TTL 0, as @hyperswarm/discovery writes them.
    pub fn new(name: impl Into<String>, data: RData) -> Record {
        Record {
            name: name.into(),
            class: CLASS_IN,
            ttl: 0,
            data,
        }
    }
}

/// A DNS packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Packet {
    /// Transaction id (0 in mDNS).
    pub id: u16,
    /// All 16 header flag bits, QR included.
    pub flags: u16,
    /// Question section.
    pub questions: Vec<Question>,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Authority section.
    pub authorities: Vec<Record>,
    /// Additional section.
    pub additionals: Vec<Record>,
}

impl Packet {
    /// The query @hyperswarm/discovery sends for a topic name: id 0, flags 0,
    /// one `SRV IN` question.
    pub fn srv_query(name: &str) -> Packet {
        Packet {
            questions: vec![Question {
                name: name.to_owned(),
                qtype: TYPE_SRV,
                qclass: CLASS_IN,
            }],
            ..Packet::default()
        }
    }

    /// A response as multicast-dns sends it: id 0, QR + AA.
    pub fn response(answers: Vec<Record>) -> Packet {
        Packet {
            flags: FLAG_RESPONSE | FLAG_AUTHORITATIVE,
            answers,
            ..Packet::default()
        }
    }

    /// Whether the QR bit is set.
    pub fn is_response(&self) -> bool {
        self.flags & FLAG_RESPONSE != 0
    }

    /// Encodes like dns-packet: no name compression.
    pub fn encode(&self) -> Result<Vec<u8>, MdnsError> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&self.id.to_be_bytes()); // u16be
        out.extend_from_slice(&self.flags.to_be_bytes()); // u16be
        for n in [
            self.questions.len(),
            self.answers.len(),
            self.authorities.len(),
            self.additionals.len(),
        ] {
            let n = u16::try_from(n).map_err(|_| MdnsError::TooMany)?;
            out.extend_from_slice(&n.to_be_bytes()); // u16be
        }
        for q in &self.questions {
            encode_name(&q.name, &mut out)?;
            out.extend_from_slice(&q.qtype.to_be_bytes()); // u16be
            out.extend_from_slice(&q.qclass.to_be_bytes()); // u16be
        }
        for r in self
            .answers
            .iter()
            .chain(&self.authorities)
            .chain(&self.additionals)
        {
            encode_record(r, &mut out)?;
        }
        if out.len() > MAX_PACKET {
            return Err(MdnsError::TooLarge);
        }
        Ok(out)
    }

    /// Decodes a packet; trailing bytes are ignored (as dns-packet does).
    pub fn decode(buf: &[u8]) -> Result<Packet, MdnsError> {
        if buf.len() > MAX_PACKET {
            return Err(MdnsError::TooLarge);
        }
        let mut r = Reader { buf, pos: 0 };
        let id = r.u16()?;
        let flags = r.u16()?;
        let counts = [r.u16()?, r.u16()?, r.u16()?, r.u16()?];
        // every entry takes at least 5 bytes: cap allocations by the input
        let cap = |n: u16| usize::from(n).min(buf.len() / 5);
        let mut questions = Vec::with_capacity(cap(counts[0]));
        for _ in 0..counts[0] {
            let name = r.name()?;
            let qtype = r.u16()?;
            let qclass = r.u16()?;
            questions.push(Question {
                name,
                qtype,
                qclass,
            });
        }
        let mut sections: [Vec<Record>; 3] = Default::default();
        for (section, &n) in sections.iter_mut().zip(&counts[1..]) {
            section.reserve(cap(n));
            for _ in 0..n {
                section.push(r.record()?);
            }
        }
        let [answers, authorities, additionals] = sections;
        Ok(Packet {
            id,
            flags,
            questions,
            answers,
            authorities,
            additionals,
        })
    }
}

fn encode_name(name: &str, out: &mut Vec<u8>) -> Result<(), MdnsError> {
    // dns-packet strips one leading and one trailing dot
    let n = name.strip_prefix('.').unwrap_or(name);
    let n = n.strip_suffix('.').unwrap_or(n);
    let mut total = 1;
    if !n.is_empty() {
        for label in n.split('.') {
            if label.is_empty() || label.len() > MAX_LABEL {
                return Err(MdnsError::BadName);
            }
            total += label.len() + 1;
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
    }
    if total > MAX_NAME {
        return Err(MdnsError::BadName);
    }
    out.push(0);
    Ok(())
}

fn encode_record(r: &Record, out: &mut Vec<u8>) -> Result<(), MdnsError> {
    encode_name(&r.name, out)?;
    out.extend_from_slice(&r.data.rtype().to_be_bytes()); // u16be
    out.extend_from_slice(&r.class.to_be_bytes()); // u16be
    out.extend_from_slice(&r.ttl.to_be_bytes()); // u32be
    let len_at = out.len();
    out.extend_from_slice(&[0, 0]);
    match &r.data {
        RData::Srv {
            priority,
            weight,
            port,
            target,
        } => {
            out.extend_from_slice(&priority.to_be_bytes()); // u16be
            out.extend_from_slice(&weight.to_be_bytes()); // u16be
            out.extend_from_slice(&port.to_be_bytes()); // u16be
            encode_name(target, out)?;
        }
        RData::Txt(strings) => {
            for s in strings {
                out.push(u8::try_from(s.len()).map_err(|_| MdnsError::TooLong)?);
                out.extend_from_slice(s);
            }
        }
        RData::A(ip) => out.extend_from_slice(&ip.octets()),
        RData::Other { data, .. } => out.extend_from_slice(data),
    }
    let len = u16::try_from(out.len() - len_at - 2).map_err(|_| MdnsError::TooLong)?;
    out[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes()); // u16be rdlength
    Ok(())
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], MdnsError> {
        let end = self.pos.checked_add(n).ok_or(MdnsError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(MdnsError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, MdnsError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, MdnsError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]])) // u16be
    }

    fn u32(&mut self) -> Result<u32, MdnsError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]])) // u32be
    }

    /// Reads a possibly compressed name at the cursor.
    fn name(&mut self) -> Result<String, MdnsError> {
        let mut labels: Vec<String> = Vec::new();
        let mut pos = self.pos;
        let mut end: Option<usize> = None;
        let mut jumps = 0;
        let mut total = 0usize;
        loop {
            let len = *self.buf.get(pos).ok_or(MdnsError::Truncated)?;
            match len & 0xc0 {
                0x00 => {
                    pos += 1;
                    if len == 0 {
                        break;
                    }
                    let label = self
                        .buf
                        .get(pos..pos + usize::from(len))
                        .ok_or(MdnsError::Truncated)?;
                    total += label.len() + 1;
                    if total > MAX_NAME {
                        return Err(MdnsError::BadName);
                    }
                    labels.push(String::from_utf8_lossy(label).into_owned());
                    pos += usize::from(len);
                }
                0xc0 => {
                    let lo = *self.buf.get(pos + 1).ok_or(MdnsError::Truncated)?;
                    let target = usize::from(u16::from_be_bytes([len & 0x3f, lo])); // u14be
                    // only backwards pointers: forward ones could loop
                    if target >= pos || jumps >= MAX_JUMPS {
                        return Err(MdnsError::BadPointer);
                    }
                    jumps += 1;
                    end.get_or_insert(pos + 2);
                    pos = target;
                }
                _ => return Err(MdnsError::BadName),
            }
        }
        self.pos = end.unwrap_or(pos);
        Ok(labels.join("."))
    }

    fn record(&mut self) -> Result<Record, MdnsError> {
        let name = self.name()?;
        let rtype = self.u16()?;
        let class = self.u16()?;
        let ttl = self.u32()?;
        let len = usize::from(self.u16()?);
        let start = self.pos;
        let data_end = start.checked_add(len).ok_or(MdnsError::Truncated)?;
        if data_end > self.buf.len() {
            return Err(MdnsError::Truncated);
        }
        let data = match rtype {
            TYPE_SRV => {
                let priority = self.u16()?;
                let weight = self.u16()?;
                let port = self.u16()?;
                let target = self.name()?;
                RData::Srv {
                    priority,
                    weight,
                    port,
                    target,
                }
            }
            TYPE_TXT => {
                let mut strings = Vec::new();
                while self.pos < data_end {
                    let n = usize::from(self.u8()?);
                    strings.push(self.take(n)?.to_vec());
                }
                RData::Txt(strings)
            }
            TYPE_A if len == 4 => {
                let b = self.take(4)?;
                RData::A(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
            }
            _ => RData::Other {
                rtype,
                data: self.take(len)?.to_vec(),
            },
        };
        if self.pos > data_end {
            return Err(MdnsError::Truncated);
        }
        // the declared length wins, as in dns-packet
        self.pos = data_end;
        Ok(Record {
            name,
            class,
            ttl,
            data,
        })
    }
}
