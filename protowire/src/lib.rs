//! The protobuf wire primitives (proto2, as the `protocol-buffers` JS compiler writes them) that
//! every crate of the stack shares: one unsigned LEB128 varint codec with one overflow rule, and
//! one walker over the fields of a message.
//!
//! The overflow rule is protobuf's: a varint has at most 10 bytes, and the tenth may only carry
//! the single top bit of a `u64`; anything longer or larger is [`VarintError::Overflow`]. A
//! non-minimal encoding (`81 00` for 1) is accepted, as every JS decoder accepts it. Formats
//! with a stricter rule of their own (a JS module that gives up earlier) check the byte count
//! [`decode_varint`] returns.
//!
//! ```
//! use protowire::{Fields, Value, decode_varint, put_bytes_field, put_varint_field};
//!
//! let mut msg = Vec::new();
//! put_varint_field(&mut msg, 1, 300); // 08 ac 02
//! put_bytes_field(&mut msg, 2, b"hi"); // 12 02 68 69
//! assert_eq!(msg, [0x08, 0xac, 0x02, 0x12, 0x02, b'h', b'i']);
//! assert_eq!(decode_varint(&msg[1..]), Ok((300, 2)));
//!
//! let fields: Vec<(u64, Value<'_>)> = Fields::new(&msg).collect::<Result<_, _>>()?;
//! assert_eq!(fields, [(1, Value::Varint(300)), (2, Value::Bytes(b"hi"))]);
//! # Ok::<(), protowire::FieldError>(())
//! ```
//!
//! # Why hand-written
//! `prost` decodes into generated structs and drops zero-valued fields on encode, while the JS
//! compiler writes every field the sender set, so the crates write their messages field by
//! field; what they need from a library is only these primitives, which `prost` does not
//! export on their own. This crate depends on nothing, so even the crates that must know none
//! of the others (`hyperswarm`) can share it.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![deny(unreachable_pub)]

mod fields;
mod varint;

pub use crate::{
    fields::{
        FieldError, Fields, Value, WireType, put_bytes_field, put_bytes_prefix, put_key,
        put_varint_field,
    },
    varint::{MAX_VARINT_LEN, VarintError, decode_varint, encode_varint, varint_len},
};
