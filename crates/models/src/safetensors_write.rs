//! A deterministic safetensors writer (reading stays with the `safetensors` crate).
//!
//! The format (<https://github.com/huggingface/safetensors>): an 8-byte little-endian header
//! length `N`, then `N` bytes of JSON, then the tensors' bytes back to back. The header maps
//! `"__metadata__"` to a string→string object and each tensor's name to
//! `{"dtype":"F32","shape":[…],"data_offsets":[begin,end]}` (offsets relative to the end of the
//! header). The reference writer pads the header with spaces to a multiple of 8 bytes so the
//! data is aligned; so does this one.
//!
//! Why not `safetensors::serialize`: version 0.3 takes the metadata as a `HashMap` and writes it
//! in hash order, so the same checkpoint saved twice gave different bytes. Here the metadata is a
//! `BTreeMap` (keys in byte order) and the tensors come in the order given, so equal contents give
//! byte-identical files. With tensors sorted by name and a single metadata entry the output equals
//! the reference writer's byte for byte (tested in `checkpoint.rs`).

use std::collections::BTreeMap;

use crate::error::ModelError;

/// One f32 tensor to write: name, shape, row-major values.
pub(crate) struct TensorRef<'a> {
    pub name: &'a str,
    pub shape: &'a [usize],
    pub values: &'a [f32],
}

/// The safetensors bytes of `tensors` (in this order) and `metadata` (in key order; omitted
/// from the header when empty, as the reference writer does for `None`).
pub(crate) fn safetensors_bytes(
    tensors: &[TensorRef<'_>],
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>, ModelError> {
    let json = |s: &str| {
        serde_json::to_string(s)
            .map_err(|e| ModelError::Config(format!("encoding {s:?} as JSON: {e}")))
    };
    let mut entries = Vec::with_capacity(tensors.len() + 1);
    if !metadata.is_empty() {
        let pairs = metadata
            .iter()
            .map(|(k, v)| Ok(format!("{}:{}", json(k)?, json(v)?)))
            .collect::<Result<Vec<_>, ModelError>>()?;
        entries.push(format!("\"__metadata__\":{{{}}}", pairs.join(",")));
    }
    let mut offset = 0usize;
    for t in tensors {
        let numel = t.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if numel != Some(t.values.len()) {
            return Err(ModelError::Config(format!(
                "tensor {}: shape {:?} does not hold {} values",
                t.name,
                t.shape,
                t.values.len()
            )));
        }
        let end = offset + 4 * t.values.len();
        let dims: Vec<String> = t.shape.iter().map(usize::to_string).collect();
        entries.push(format!(
            "{}:{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
            json(t.name)?,
            dims.join(",")
        ));
        offset = end;
    }
    let mut header = format!("{{{}}}", entries.join(",")).into_bytes();
    header.resize(header.len().div_ceil(8) * 8, b' ');
    let mut bytes = Vec::with_capacity(8 + header.len() + offset);
    bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&header);
    for t in tensors {
        bytes.extend(t.values.iter().flat_map(|v| v.to_le_bytes()));
    }
    Ok(bytes)
}
