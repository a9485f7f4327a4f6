//! Checkpoints: named f32 tensors plus string metadata in one safetensors file, written
//! atomically (temporary file in the same directory, fsync, rename).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::ModelError;
use crate::param::Parameterized;

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

    /// Serialises to safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ModelError> {
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(n, (s, v))| {
                (
                    n.clone(),
                    s.clone(),
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                )
            })
            .collect();
        let views = bytes
            .iter()
            .map(|(n, s, b)| {
                TensorView::new(Dtype::F32, s.clone(), b)
                    .map(|v| (n.clone(), v))
                    .map_err(|e| ModelError::Config(format!("tensor {n}: {e:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let meta: HashMap<String, String> = self.metadata.clone().into_iter().collect();
        safetensors::tensor::serialize(views, &Some(meta))
            .map_err(|e| ModelError::Config(format!("serialising checkpoint: {e:?}")))
    }

    /// Parses safetensors bytes; anything malformed, truncated or not f32 is an error.
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
        Ok(ck)
    }

    /// Writes the checkpoint atomically: a crash mid-write leaves the previous file intact.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let bytes = self.to_bytes()?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir).map_err(|e| err(path, e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| err(path, e))?;
        tmp.write_all(&bytes).map_err(|e| err(path, e))?;
        tmp.as_file().sync_all().map_err(|e| err(path, e))?;
        tmp.persist(path).map_err(|e| err(path, e.error))?;
        Ok(())
    }

    /// Reads a checkpoint written by [`Checkpoint::save`].
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|e| err(path, e))?;
        Self::from_bytes(&bytes, path)
    }
}
