//! A minimal, bounds-checked reader and writer of NumPy's `.npy` format (v1.0 written; v1–v3
//! read) and of `.npz` archives (a zip of `.npy` members, as `numpy.savez` writes them).
//!
//! Only what demonstrations need: little-endian `f4`/`f8`/`i4`/`i8`/`u1`/`b1`, C order. Every
//! size in a header is checked against the bytes actually present before anything is allocated.

use std::io::{Cursor, Read, Write};

use zip::write::SimpleFileOptions;

/// Element types this module reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dtype {
    F32,
    F64,
    I32,
    I64,
    U8,
    Bool,
}

impl Dtype {
    fn descr(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
            Dtype::I32 => "<i4",
            Dtype::I64 => "<i8",
            Dtype::U8 => "|u1",
            Dtype::Bool => "|b1",
        }
    }

    fn from_descr(d: &str) -> Option<Dtype> {
        Some(match d {
            "<f4" => Dtype::F32,
            "<f8" => Dtype::F64,
            "<i4" => Dtype::I32,
            "<i8" => Dtype::I64,
            "|u1" | "<u1" => Dtype::U8,
            "|b1" | "<b1" => Dtype::Bool,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::U8 | Dtype::Bool => 1,
        }
    }

    pub(crate) fn is_float(self) -> bool {
        matches!(self, Dtype::F32 | Dtype::F64)
    }
}

/// One array: element type, shape and little-endian C-order bytes
/// (`data.len() == shape.product() * dtype.size()`, checked on parse).
#[derive(Clone, Debug)]
pub(crate) struct NpyArray {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    data: Vec<u8>,
}

const MAGIC: &[u8] = b"\x93NUMPY";
/// Longest header accepted (numpy itself refuses headers over 10 kB by default).
const MAX_HEADER: usize = 1 << 16;

impl NpyArray {
    pub fn from_f32(shape: Vec<usize>, values: &[f32]) -> Self {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        NpyArray {
            dtype: Dtype::F32,
            shape,
            data,
        }
    }

    pub fn from_f64(shape: Vec<usize>, values: &[f64]) -> Self {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        NpyArray {
            dtype: Dtype::F64,
            shape,
            data,
        }
    }

    pub fn from_i64(shape: Vec<usize>, values: &[i64]) -> Self {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        NpyArray {
            dtype: Dtype::I64,
            shape,
            data,
        }
    }

    pub fn from_u8(values: &[u8]) -> Self {
        NpyArray {
            dtype: Dtype::U8,
            shape: vec![values.len()],
            data: values.to_vec(),
        }
    }

    pub fn from_bool(values: &[bool]) -> Self {
        NpyArray {
            dtype: Dtype::Bool,
            shape: vec![values.len()],
            data: values.iter().map(|&b| u8::from(b)).collect(),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.size()
    }

    /// Values widened or narrowed to f64 (integers and booleans converted exactly up to 2⁵³).
    pub fn to_f64(&self) -> Vec<f64> {
        let s = self.dtype.size();
        self.data
            .chunks_exact(s)
            .map(|c| match self.dtype {
                Dtype::F32 => f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                Dtype::F64 => f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
                Dtype::I32 => f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                Dtype::I64 => {
                    i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f64
                }
                Dtype::U8 | Dtype::Bool => f64::from(c[0]),
            })
            .collect()
    }

    /// Float values as f32; `None` for integer arrays.
    pub fn to_f32(&self) -> Option<Vec<f32>> {
        match self.dtype {
            Dtype::F32 => Some(
                self.data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            Dtype::F64 => Some(self.to_f64().into_iter().map(|v| v as f32).collect()),
            _ => None,
        }
    }

    /// Integer (or boolean) values as i64; `None` for float arrays.
    pub fn to_i64(&self) -> Option<Vec<i64>> {
        let s = self.dtype.size();
        let conv = |c: &[u8]| match self.dtype {
            Dtype::I32 => Some(i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
            Dtype::I64 => Some(i64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ])),
            Dtype::U8 | Dtype::Bool => Some(i64::from(c[0])),
            Dtype::F32 | Dtype::F64 => None,
        };
        self.data.chunks_exact(s).map(conv).collect()
    }

    /// The raw bytes of a `u8` array.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// Serialises as `.npy` version 1.0 with numpy's 64-byte header alignment.
    pub fn to_npy(&self) -> Vec<u8> {
        let shape = match self.shape.len() {
            0 => "()".to_string(),
            1 => format!("({},)", self.shape[0]),
            _ => format!(
                "({})",
                self.shape
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut header = format!(
            "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
            self.dtype.descr()
        );
        let unpadded = MAGIC.len() + 2 + 2 + header.len() + 1;
        header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
        header.push('\n');
        let mut out = Vec::with_capacity(10 + header.len() + self.data.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[1, 0]);
        // The header is ASCII and well under 64 KiB.
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&self.data);
        out
    }

    /// Parses one `.npy` file held in memory.
    pub fn parse(bytes: &[u8]) -> Result<NpyArray, String> {
        if bytes.len() < 10 || &bytes[..6] != MAGIC {
            return Err("missing the .npy magic string".into());
        }
        let (header_len, start) = match bytes[6] {
            1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
            2 | 3 => {
                if bytes.len() < 12 {
                    return Err("truncated .npy header".into());
                }
                let n = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
                (usize::try_from(n).unwrap_or(usize::MAX), 12)
            }
            v => return Err(format!("unsupported .npy version {v}")),
        };
        if header_len > MAX_HEADER {
            return Err(format!("header of {header_len} bytes is too long"));
        }
        let end = start + header_len;
        let header = bytes.get(start..end).ok_or("truncated .npy header")?;
        let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
        let descr = dict_value(header, "descr").ok_or("header lacks 'descr'")?;
        let descr = descr
            .strip_prefix('\'')
            .and_then(|d| d.split('\'').next())
            .ok_or("malformed 'descr'")?;
        let dtype =
            Dtype::from_descr(descr).ok_or_else(|| format!("unsupported dtype '{descr}'"))?;
        let fortran = dict_value(header, "fortran_order").ok_or("header lacks 'fortran_order'")?;
        let shape_text = dict_value(header, "shape").ok_or("header lacks 'shape'")?;
        let shape = parse_shape(shape_text)?;
        if fortran.starts_with("True") && shape.iter().filter(|&&d| d > 1).count() > 1 {
            return Err("Fortran-ordered arrays are not supported".into());
        }
        let count = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or("shape overflows")?;
        let nbytes = count.checked_mul(dtype.size()).ok_or("shape overflows")?;
        let data = &bytes[end.min(bytes.len())..];
        if data.len() != nbytes {
            return Err(format!(
                "shape {shape:?} of {descr} needs {nbytes} bytes of data, found {}",
                data.len()
            ));
        }
        Ok(NpyArray {
            dtype,
            shape,
            data: data.to_vec(),
        })
    }
}

/// The text after `'key':` in a header dict, up to the end of the header.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("'{key}':");
    let at = header.find(&pat)?;
    Some(header[at + pat.len()..].trim_start())
}

fn parse_shape(text: &str) -> Result<Vec<usize>, String> {
    let inner = text
        .strip_prefix('(')
        .and_then(|t| t.split(')').next())
        .ok_or("malformed 'shape'")?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("bad dimension '{s}' in shape"))
        })
        .collect()
}

/// Size limits for reading untrusted archives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadLimits {
    /// Largest file accepted, in bytes (default 1 GiB).
    pub max_file_bytes: u64,
    /// Largest decompressed member, in bytes (default 1 GiB).
    pub max_array_bytes: u64,
    /// Most members in the archive (default 64).
    pub max_entries: usize,
}

impl Default for LoadLimits {
    fn default() -> Self {
        LoadLimits {
            max_file_bytes: 1 << 30,
            max_array_bytes: 1 << 30,
            max_entries: 64,
        }
    }
}

/// Writes `arrays` as an uncompressed `.npz` (what `numpy.savez` writes).
pub(crate) fn write_npz(arrays: &[(&str, NpyArray)]) -> std::io::Result<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false);
    for (name, arr) in arrays {
        zip.start_file(format!("{name}.npy"), opts)
            .map_err(std::io::Error::other)?;
        zip.write_all(&arr.to_npy())?;
    }
    let cursor = zip.finish().map_err(std::io::Error::other)?;
    Ok(cursor.into_inner())
}

/// Reads the members named in `wanted` (without `.npy`) from an `.npz` held in memory; other
/// members are skipped unread. Stored and deflated members are accepted.
pub(crate) fn read_npz(
    bytes: &[u8],
    wanted: &[&str],
    limits: &LoadLimits,
) -> Result<Vec<(String, NpyArray)>, String> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("not a zip archive: {e}"))?;
    if archive.len() > limits.max_entries {
        return Err(format!(
            "{} members, more than the limit of {}",
            archive.len(),
            limits.max_entries
        ));
    }
    let mut out: Vec<(String, NpyArray)> = Vec::new();
    for i in 0..archive.len() {
        let mut member = archive
            .by_index(i)
            .map_err(|e| format!("member {i}: {e}"))?;
        let full = member.name().to_string();
        let Some(name) = full.strip_suffix(".npy") else {
            continue;
        };
        if !wanted.contains(&name) {
            continue;
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err(format!("array '{name}' appears twice"));
        }
        let declared = member.size();
        if declared > limits.max_array_bytes {
            return Err(format!(
                "array '{name}' declares {declared} bytes, more than the limit of {}",
                limits.max_array_bytes
            ));
        }
        // The declared size bounds the allocation; `take` bounds what a lying header can feed.
        let mut buf =
            Vec::with_capacity(usize::try_from(declared.min(bytes.len() as u64 * 2)).unwrap_or(0));
        (&mut member)
            .take(limits.max_array_bytes.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| format!("array '{name}': {e}"))?;
        if buf.len() as u64 > limits.max_array_bytes {
            return Err(format!("array '{name}' exceeds the size limit"));
        }
        let arr = NpyArray::parse(&buf).map_err(|e| format!("array '{name}': {e}"))?;
        out.push((name.to_string(), arr));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip_and_alignment() {
        let a = NpyArray::from_f32(vec![2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let bytes = a.to_npy();
        let header_end = bytes.len() - 24;
        assert_eq!(header_end % 64, 0);
        let b = NpyArray::parse(&bytes);
        assert!(matches!(&b, Ok(b) if b.shape == vec![2, 3] && b.dtype == Dtype::F32));
        let scalar = NpyArray::from_f64(vec![], &[2.5]).to_npy();
        assert!(matches!(NpyArray::parse(&scalar), Ok(s) if s.shape.is_empty() && s.len() == 1));
    }

    #[test]
    fn rejects_lying_shapes() {
        let mut bytes = NpyArray::from_i64(vec![2], &[1, 2]).to_npy();
        let text = String::from_utf8_lossy(&bytes).replace("(2,)", "(9,)");
        bytes = text.into_bytes();
        assert!(NpyArray::parse(&bytes).is_err());
        let huge = String::from_utf8_lossy(&NpyArray::from_i64(vec![2], &[1, 2]).to_npy())
            .replace("(2,)", "(99999999999999999999,)")
            .into_bytes();
        assert!(NpyArray::parse(&huge).is_err());
        assert!(parse_shape("(18446744073709551615, 18446744073709551615)").is_ok());
        let overflow = format!(
            "{{'descr': '<f8', 'fortran_order': False, 'shape': ({0}, {0}), }}",
            usize::MAX
        );
        let mut raw = MAGIC.to_vec();
        raw.extend_from_slice(&[1, 0]);
        raw.extend_from_slice(&(overflow.len() as u16).to_le_bytes());
        raw.extend_from_slice(overflow.as_bytes());
        assert!(NpyArray::parse(&raw).is_err());
    }
}
