//! Checkpoints: named f32 tensors plus string metadata in one safetensors file, written
//! atomically (temporary file in the same directory, fsync, rename, fsync the directory) and
//! checked on load: a CRC-32C of the tensors and the metadata, stored under [`CHECKSUM_KEY`],
//! must match, and every value must be finite. Files are deterministic: equal checkpoints give
//! equal bytes (tensors and metadata in sorted order), so a seeded run's checkpoints can be
//! compared with `cmp`. Tensor layout and names: see the crate docs.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors};

use crate::error::ModelError;
use crate::param::Parameterized;
use crate::safetensors_write::{TensorRef, safetensors_bytes};

/// Metadata key of the checksum: `crc32c:<8 hex digits>` over the tensors (names, shapes,
/// values) and every other metadata entry, in a canonical order (see `Checkpoint::checksum`).
/// The checksum is over what the file decodes to, not its bytes: a header may be re-encoded
/// (another writer, another key order) without changing the checkpoint. It is set by
/// [`Checkpoint::to_bytes`], checked and removed by [`Checkpoint::from_bytes`], and never shows
/// in [`Checkpoint::meta`].
pub const CHECKSUM_KEY: &str = "eirl_checksum";

/// A set of named tensors and metadata, saved as one `.safetensors` file.
#[derive(Clone, Debug, Default)]
pub struct Checkpoint {
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    metadata: BTreeMap<String, String>,
}

fn err(path: &Path, msg: impl std::fmt::Display) -> ModelError {
    ModelError::Checkpoint {
        path: path.display().to_string(),
        msg: msg.to_string(),
    }
}

impl Checkpoint {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores a tensor under `name` (replacing any previous one).
    pub fn insert(&mut self, name: impl Into<String>, shape: Vec<usize>, values: Vec<f32>) {
        self.tensors.insert(name.into(), (shape, values));
    }

    /// The tensor stored under `name`.
    pub fn get(&self, name: &str) -> Option<(&[usize], &[f32])> {
        self.tensors
            .get(name)
            .map(|(s, v)| (s.as_slice(), v.as_slice()))
    }

    /// Names of all stored tensors, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Stores a metadata string.
    pub fn set_meta(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.metadata.insert(key.into(), value.into());
    }

    /// A metadata string.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// The metadata value under `key` parsed as `T`; an error naming the key when it is absent or
    /// does not parse (a checkpoint from another program, or a damaged one).
    pub fn parse_meta<T: std::str::FromStr>(&self, key: &str) -> Result<T, ModelError> {
        self.meta(key)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| ModelError::Config(format!("checkpoint lacks a valid `{key}`")))
    }

    /// Stores every parameter of `net` as `<prefix>.<i>`.
    pub fn insert_params<N: Parameterized + ?Sized>(&mut self, prefix: &str, net: &N) {
        for (i, (shape, values)) in net.export_params().into_iter().enumerate() {
            self.insert(format!("{prefix}.{i}"), shape, values);
        }
    }

    /// Restores `net` from `<prefix>.<i>`; fails (changing nothing) if the count or any shape
    /// differs.
    pub fn restore_params<N: Parameterized + ?Sized>(
        &self,
        prefix: &str,
        net: &mut N,
    ) -> Result<(), ModelError> {
        let want = net.params().len();
        let mut values = Vec::with_capacity(want);
        for i in 0..want {
            let name = format!("{prefix}.{i}");
            let (s, v) = self
                .tensors
                .get(&name)
                .ok_or_else(|| ModelError::Config(format!("checkpoint has no tensor {name}")))?;
            values.push((s.clone(), v.clone()));
        }
        if self.tensors.contains_key(&format!("{prefix}.{want}")) {
            return Err(ModelError::Config(format!(
                "checkpoint has more than {want} tensors under {prefix}: architectures differ"
            )));
        }
        net.import_params(&values)
    }

    /// CRC-32C (Castagnoli) of the tensors and the metadata other than [`CHECKSUM_KEY`], both in
    /// key order, each string and list length-prefixed so no two checkpoints encode alike.
    fn checksum(&self) -> u32 {
        fn put(crc: u32, bytes: &[u8]) -> u32 {
            let len = (bytes.len() as u64).to_le_bytes();
            crc32c::crc32c_append(crc32c::crc32c_append(crc, &len), bytes)
        }
        let mut crc = 0;
        for (name, (shape, values)) in &self.tensors {
            crc = put(crc, name.as_bytes());
            let dims: Vec<u8> = shape
                .iter()
                .flat_map(|&d| (d as u64).to_le_bytes())
                .collect();
            crc = put(crc, &dims);
            let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            crc = put(crc, &data);
        }
        for (key, value) in self.metadata.iter().filter(|(k, _)| *k != CHECKSUM_KEY) {
            crc = put(crc, key.as_bytes());
            crc = put(crc, value.as_bytes());
        }
        crc
    }

    /// Serialises to safetensors bytes, with the checksum in the metadata. The bytes are a
    /// function of the contents alone: tensors in name order, metadata in key order (see
    /// `safetensors_write`), so saving equal checkpoints gives byte-identical files.
    ///
    /// A checkpoint needs at least one tensor: eirl's agents always save their networks, and the
    /// safetensors 0.3 writer eirl used before produced unreadable tensor-less files, so such a
    /// checkpoint is refused rather than saved.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ModelError> {
        if self.tensors.is_empty() {
            return Err(ModelError::Config(
                "a checkpoint needs at least one tensor (one without holds nothing to restore)"
                    .into(),
            ));
        }
        let tensors: Vec<TensorRef<'_>> = self
            .tensors
            .iter()
            .map(|(name, (shape, values))| TensorRef {
                name,
                shape,
                values,
            })
            .collect();
        let mut meta = self.metadata.clone();
        meta.insert(
            CHECKSUM_KEY.to_string(),
            format!("crc32c:{:08x}", self.checksum()),
        );
        safetensors_bytes(&tensors, &meta)
    }

    /// Parses safetensors bytes; anything malformed, truncated or not f32 is an error, and so is
    /// a checksum that does not match (a damaged file) or a non-finite value (naming the
    /// tensor). A checkpoint written before eirl stored checksums loads with a warning.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, ModelError> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| err(path, format!("{e:?}")))?;
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|e| err(path, format!("{e:?}")))?;
        let mut ck = Checkpoint::new();
        if let Some(meta) = header.metadata() {
            ck.metadata = meta.clone().into_iter().collect();
        }
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(err(
                    path,
                    format!("tensor {name} is {:?}, not F32", view.dtype()),
                ));
            }
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            ck.tensors.insert(name, (view.shape().to_vec(), values));
        }
        match ck.metadata.remove(CHECKSUM_KEY) {
            Some(stored) => {
                let computed = format!("crc32c:{:08x}", ck.checksum());
                if stored != computed {
                    return Err(err(
                        path,
                        format!(
                            "checksum mismatch: the file is damaged (stored {stored}, \
                             contents give {computed})"
                        ),
                    ));
                }
            }
            None => tracing::warn!(
                "checkpoint {} has no checksum (written before eirl stored one); it cannot be \
                 checked for damage",
                path.display()
            ),
        }
        for (name, (_, values)) in &ck.tensors {
            if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(err(
                    path,
                    format!("tensor {name} holds a non-finite value ({v} at index {i})"),
                ));
            }
        }
        Ok(ck)
    }

    /// Writes the checkpoint atomically ([`eirl_runlog::atomic_write`]): a crash mid-write
    /// leaves the previous file intact.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let bytes = self.to_bytes()?;
        eirl_runlog::atomic_write(path, &bytes).map_err(|source| ModelError::CheckpointIo {
            action: "write",
            path: path.display().to_string(),
            source,
        })
    }

    /// Reads a checkpoint written by [`Checkpoint::save`], checking it (see
    /// [`Checkpoint::from_bytes`]).
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::CheckpointIo {
            action: "read",
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(&bytes, path)
    }
}
