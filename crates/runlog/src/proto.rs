//! The handful of protobuf wire-format primitives that TensorBoard's `Event` needs.
//!
//! Hand-encoded on purpose. `tensorboard-rs` (0.5.9, inactive since 2022) pulls in `protobuf` 2
//! and `image` 0.23 and panics on I/O errors; `prost` would still need the message structs written
//! by hand plus a proc-macro build (syn) for two small messages. A scalar event uses five field
//! types, so these few functions cost less than any dependency tree, compile instantly, and are
//! checked by decoding in the tests.

/// Protobuf wire types used by `Event`/`Summary`.
pub(crate) const VARINT: u8 = 0;
pub(crate) const FIXED64: u8 = 1;
pub(crate) const LEN: u8 = 2;
pub(crate) const FIXED32: u8 = 5;

pub(crate) fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_key(buf: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(buf, (u64::from(field) << 3) | u64::from(wire));
}

pub(crate) fn put_double(buf: &mut Vec<u8>, field: u32, v: f64) {
    put_key(buf, field, FIXED64);
    buf.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_float(buf: &mut Vec<u8>, field: u32, v: f32) {
    put_key(buf, field, FIXED32);
    buf.extend_from_slice(&v.to_le_bytes());
}

/// An unsigned varint field (`uint64`, `bool`, an enum).
pub(crate) fn put_varint_field(buf: &mut Vec<u8>, field: u32, v: u64) {
    put_key(buf, field, VARINT);
    put_varint(buf, v);
}

/// `int64` fields are plain varints of the two's-complement value (not zig-zag).
pub(crate) fn put_int64(buf: &mut Vec<u8>, field: u32, v: i64) {
    put_varint_field(buf, field, v as u64);
}

pub(crate) fn put_bytes(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(buf, field, LEN);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// One decoded field: its number and payload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Field<'a> {
    Varint(u32, u64),
    Fixed64(u32, [u8; 8]),
    Fixed32(u32, [u8; 4]),
    Bytes(u32, &'a [u8]),
}

/// Iterates the top-level fields of one message; yields `Err` once on malformed input.
pub(crate) struct Fields<'a> {
    rest: &'a [u8],
}

pub(crate) fn fields(msg: &[u8]) -> Fields<'_> {
    Fields { rest: msg }
}

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Result<u64, &'static str> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.rest.split_first().ok_or("truncated varint")?;
            self.rest = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes")
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        let (head, rest) = self
            .rest
            .split_at_checked(N)
            .ok_or("truncated fixed field")?;
        self.rest = rest;
        head.try_into().map_err(|_| "truncated fixed field")
    }

    fn next_field(&mut self) -> Result<Field<'a>, &'static str> {
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| "field number too large")?;
        match (key & 7) as u8 {
            VARINT => Ok(Field::Varint(field, self.varint()?)),
            FIXED64 => Ok(Field::Fixed64(field, self.take()?)),
            FIXED32 => Ok(Field::Fixed32(field, self.take()?)),
            LEN => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
                let (head, rest) = self
                    .rest
                    .split_at_checked(len)
                    .ok_or("truncated length-delimited field")?;
                self.rest = rest;
                Ok(Field::Bytes(field, head))
            }
            _ => Err("unsupported wire type"),
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let item = self.next_field();
        if item.is_err() {
            self.rest = &[];
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_matches_protobuf_spec_examples() {
        let mut buf = Vec::new();
        put_varint(&mut buf, 150);
        assert_eq!(buf, [0x96, 0x01]);
        buf.clear();
        put_int64(&mut buf, 2, -1);
        assert_eq!(
            buf.len(),
            11,
            "negative int64 takes ten varint bytes plus the key"
        );
    }

    #[test]
    fn fields_round_trip() {
        let mut buf = Vec::new();
        put_double(&mut buf, 1, 1.5);
        put_int64(&mut buf, 2, -7);
        put_bytes(&mut buf, 3, b"abc");
        put_float(&mut buf, 4, 0.25);
        let decoded: Result<Vec<_>, _> = fields(&buf).collect();
        assert_eq!(
            decoded,
            Ok(vec![
                Field::Fixed64(1, 1.5f64.to_le_bytes()),
                Field::Varint(2, (-7i64) as u64),
                Field::Bytes(3, b"abc"),
                Field::Fixed32(4, 0.25f32.to_le_bytes()),
            ])
        );
    }

    #[test]
    fn truncated_input_is_an_error() {
        let mut buf = Vec::new();
        put_bytes(&mut buf, 3, b"abcdef");
        buf.truncate(4);
        assert!(fields(&buf).any(|f| f.is_err()));
    }
}
