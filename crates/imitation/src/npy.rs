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
/// Most bytes one compressed byte of a deflate stream can expand to (deflate's limit is
/// about 1032:1): bounds what is allocated ahead of reading a member.
const MAX_DEFLATE_RATIO: u64 = 1032;

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
    #[cfg(test)]
    pub fn parse(bytes: &[u8]) -> Result<NpyArray, String> {
        let header = Header::parse(bytes)?;
        let data = &bytes[header.data_start.min(bytes.len())..];
        if data.len() != header.nbytes {
            return Err(header.size_mismatch(data.len()));
        }
        Ok(NpyArray {
            dtype: header.dtype,
            shape: header.shape,
            data: data.to_vec(),
        })
    }
}

/// What a `.npy` header declares: element type, shape, where the data starts and how many
/// bytes of it there must be (`shape.product() × dtype.size()`, overflow-checked).
#[derive(Clone, Debug)]
struct Header {
    dtype: Dtype,
    shape: Vec<usize>,
    data_start: usize,
    nbytes: usize,
}

impl Header {
    /// Bytes needed to know the header's length: magic, version, and the length field.
    const PREFIX: usize = 12;

    /// Length of the whole header (magic to the end of the dict) from its first
    /// [`Header::PREFIX`] bytes (or fewer, for a tiny file).
    fn total_len(prefix: &[u8]) -> Result<usize, String> {
        if prefix.len() < 10 || &prefix[..6] != MAGIC {
            return Err("missing the .npy magic string".into());
        }
        let (header_len, start) = match prefix[6] {
            1 => (usize::from(u16::from_le_bytes([prefix[8], prefix[9]])), 10),
            2 | 3 => {
                if prefix.len() < 12 {
                    return Err("truncated .npy header".into());
                }
                let n = u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]);
                (usize::try_from(n).unwrap_or(usize::MAX), 12)
            }
            v => return Err(format!("unsupported .npy version {v}")),
        };
        if header_len > MAX_HEADER {
            return Err(format!("header of {header_len} bytes is too long"));
        }
        Ok(start + header_len)
    }

    /// Parses the header at the start of `bytes` (which may hold more, or all, of the file).
    fn parse(bytes: &[u8]) -> Result<Header, String> {
        let end = Header::total_len(bytes)?;
        let start = if bytes[6] == 1 { 10 } else { 12 };
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
            .ok_or_else(|| format!("shape {shape:?} overflows"))?;
        let nbytes = count
            .checked_mul(dtype.size())
            .ok_or_else(|| format!("shape {shape:?} overflows"))?;
        Ok(Header {
            dtype,
            shape,
            data_start: end,
            nbytes,
        })
    }

    fn size_mismatch(&self, found: usize) -> String {
        format!(
            "shape {:?} of {} needs {} bytes of data, found {found}",
            self.shape,
            self.dtype.descr(),
            self.nbytes
        )
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

/// Reads one `.npy` archive member whose zip entry declares `declared` uncompressed bytes.
///
/// The `.npy` header is read first and its `shape × dtype size` checked against `declared`
/// before the data is allocated: a 1.75 MB archive whose header (or whose deflate stream)
/// claims gigabytes is refused having read only its header. The data is then read with the
/// exact size as a bound, so a stream longer than its entry declares is refused too.
fn read_member(
    member: &mut impl Read,
    file: &str,
    name: &str,
    (declared, compressed): (u64, u64),
    limits: &LoadLimits,
) -> Result<NpyArray, String> {
    let context = |e: String| format!("array '{name}' ({file}): {e}");
    let io = |e: std::io::Error| context(e.to_string());
    let mut head = Vec::with_capacity(Header::PREFIX);
    member
        .take(Header::PREFIX as u64)
        .read_to_end(&mut head)
        .map_err(io)?;
    let header_len = Header::total_len(&head).map_err(context)?;
    // `total_len` bounds the header by `MAX_HEADER`.
    member
        .take((header_len.saturating_sub(head.len())) as u64)
        .read_to_end(&mut head)
        .map_err(io)?;
    let header = Header::parse(&head).map_err(context)?;
    let needed = (header.data_start as u64).saturating_add(header.nbytes as u64);
    if needed != declared {
        return Err(format!(
            "array '{name}' ({file}): its .npy header declares shape {:?} of {} ({} bytes of \
             data, {needed} bytes with the header) but the archive entry holds {declared} bytes",
            header.shape,
            header.dtype.descr(),
            header.nbytes
        ));
    }
    if header.nbytes as u64 > limits.max_array_bytes {
        return Err(context(format!(
            "{} bytes of data, more than the limit of {}",
            header.nbytes, limits.max_array_bytes
        )));
    }
    // `nbytes` equals the entry's declared size, itself within the limit; the allocation
    // grows with what the stream really yields beyond what its compressed size can inflate to.
    let reachable = compressed.saturating_mul(MAX_DEFLATE_RATIO);
    let mut data = Vec::with_capacity(
        header
            .nbytes
            .min(usize::try_from(reachable).unwrap_or(usize::MAX)),
    );
    member
        .take(header.nbytes as u64 + 1)
        .read_to_end(&mut data)
        .map_err(io)?;
    if data.len() != header.nbytes {
        return Err(context(header.size_mismatch(data.len())));
    }
    Ok(NpyArray {
        dtype: header.dtype,
        shape: header.shape,
        data,
    })
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
                "array '{name}' ({full}) declares {declared} bytes, more than the limit of {}",
                limits.max_array_bytes
            ));
        }
        let compressed = member.compressed_size();
        let arr = read_member(&mut member, &full, name, (declared, compressed), limits)?;
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

    /// An `.npz` whose only member is `obs.npy` holding `npy`, stored or deflated.
    fn archive(npy: &[u8], method: zip::CompressionMethod) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(false);
        let written = zip
            .start_file("obs.npy", opts)
            .and_then(|()| zip.write_all(npy).map_err(Into::into))
            .and_then(|()| zip.finish());
        written.map(Cursor::into_inner).unwrap_or_default()
    }

    /// Rewrites the uncompressed size the archive's single entry declares (local header and
    /// central directory), leaving its data as it is: a lying entry.
    fn declare_size(zip: &mut [u8], size: u32) {
        let patch = |zip: &mut [u8], sig: &[u8; 4], offset: usize| {
            if let Some(at) = zip.windows(4).position(|w| w == sig) {
                zip[at + offset..at + offset + 4].copy_from_slice(&size.to_le_bytes());
            }
        };
        patch(zip, b"PK\x03\x04", 22);
        patch(zip, b"PK\x01\x02", 24);
    }

    fn npy_with_shape(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn load(zip: &[u8]) -> (Result<Vec<(String, NpyArray)>, String>, usize) {
        crate::alloc_probe::peak_during(|| read_npz(zip, &["obs"], &LoadLimits::default()))
    }

    /// A small archive whose `.npy` header declares a huge shape is refused by comparing the
    /// header with the entry's size, naming the file and the array, before any data is read.
    #[test]
    fn header_declaring_a_huge_shape_is_refused_before_allocating() {
        let zip = archive(
            &npy_with_shape("<f4", "(268435456, 4)", &[0; 64]),
            zip::CompressionMethod::Stored,
        );
        let (out, peak) = load(&zip);
        let err = out.err().unwrap_or_default();
        assert!(err.contains("'obs'") && err.contains("obs.npy"), "{err}");
        assert!(err.contains("[268435456, 4]"), "{err}");
        assert!(err.contains("archive entry holds"), "{err}");
        assert!(peak < 1 << 20, "peak {peak} bytes");
    }

    /// A deflate bomb, 32 MiB of zeros in a ~32 kB archive whose entry claims 144 bytes: the
    /// old reader inflated it all (up to the 1 GiB limit, then copied it) before refusing it;
    /// now the header's shape is checked against the entry's size first, and a stream that
    /// runs past its entry's size is cut off one byte after it.
    #[test]
    fn deflate_bomb_is_refused_without_inflating_it() {
        let big = 32 << 20;
        let honest_header = npy_with_shape("|u1", &format!("({big},)"), &vec![0; big]);
        let mut zip = archive(&honest_header, zip::CompressionMethod::Deflated);
        assert!(zip.len() < big / 100, "{} bytes", zip.len());
        declare_size(&mut zip, 144);
        let (out, peak) = load(&zip);
        let err = out.err().unwrap_or_default();
        assert!(err.contains("archive entry holds 144 bytes"), "{err}");
        assert!(peak < 1 << 20, "peak {peak} bytes");

        // A header that agrees with the lying entry, followed by the same 32 MiB stream.
        let mut lying = npy_with_shape("|u1", "(16,)", &[]);
        let declared = lying.len() + 16;
        lying.resize(lying.len() + big, 0);
        let mut zip = archive(&lying, zip::CompressionMethod::Deflated);
        declare_size(&mut zip, declared as u32);
        let (out, peak) = load(&zip);
        let err = out.err().unwrap_or_default();
        assert!(err.contains("needs 16 bytes of data, found 17"), "{err}");
        assert!(peak < 1 << 20, "peak {peak} bytes");
    }
}
