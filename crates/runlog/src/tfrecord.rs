//! TFRecord framing, the container of TensorBoard event files:
//! `u64 len (LE) | u32 masked_crc32c(len) | data | u32 masked_crc32c(data)`.

use std::io::{self, Write};

const MASK_DELTA: u32 = 0xa282_ead8;

/// TensorFlow's CRC mask: `((crc >> 15) | (crc << 17)) + 0xa282ead8` (wrapping).
pub(crate) fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// Appends one record holding `data`.
pub(crate) fn write_record(w: &mut impl Write, data: &[u8]) -> io::Result<()> {
    let len = (data.len() as u64).to_le_bytes();
    w.write_all(&len)?;
    w.write_all(&masked_crc(&len).to_le_bytes())?;
    w.write_all(data)?;
    w.write_all(&masked_crc(data).to_le_bytes())
}

/// Splits a whole file into records, checking both CRCs of each.
pub(crate) fn read_records(mut bytes: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut records = Vec::new();
    while !bytes.is_empty() {
        let at = records.len();
        let (len_bytes, rest) = bytes
            .split_at_checked(8)
            .ok_or_else(|| format!("record {at}: truncated length"))?;
        let (len_crc, rest) = split_u32(rest).ok_or_else(|| format!("record {at}: truncated"))?;
        if masked_crc(len_bytes) != len_crc {
            return Err(format!("record {at}: length CRC mismatch"));
        }
        let mut len_arr = [0u8; 8];
        len_arr.copy_from_slice(len_bytes);
        let len = usize::try_from(u64::from_le_bytes(len_arr))
            .map_err(|_| format!("record {at}: length overflows usize"))?;
        let (data, rest) = rest
            .split_at_checked(len)
            .ok_or_else(|| format!("record {at}: truncated data"))?;
        let (data_crc, rest) = split_u32(rest).ok_or_else(|| format!("record {at}: truncated"))?;
        if masked_crc(data) != data_crc {
            return Err(format!("record {at}: data CRC mismatch"));
        }
        records.push(data);
        bytes = rest;
    }
    Ok(records)
}

fn split_u32(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = bytes.split_at_checked(4)?;
    let arr: [u8; 4] = head.try_into().ok()?;
    Some((u32::from_le_bytes(arr), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_matches_tensorflow_definition() {
        // crc32c("123456789") = 0xe3069283 (the standard check value); masked by hand in python:
        // (((c >> 15) | (c << 17)) & 0xffffffff) + 0xa282ead8, mod 2^32.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(masked_crc(b"123456789"), 0xc78a_b0e5);
    }

    #[test]
    fn records_round_trip_and_detect_corruption() -> io::Result<()> {
        let mut file = Vec::new();
        write_record(&mut file, b"first")?;
        write_record(&mut file, b"")?;
        write_record(&mut file, b"third record")?;
        let records = read_records(&file).map_err(io::Error::other)?;
        assert_eq!(records, [&b"first"[..], b"", b"third record"]);

        let mut corrupted = file.clone();
        corrupted[13] ^= 1; // inside the first record's data
        assert!(read_records(&corrupted).is_err());
        assert!(read_records(&file[..file.len() - 1]).is_err());
        Ok(())
    }
}
