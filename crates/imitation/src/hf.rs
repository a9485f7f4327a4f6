//! The `imitation` library's current trajectory format: a HuggingFace `datasets` folder, as
//! `imitation.data.serialize.save` writes it (`Dataset.save_to_disk` of one row per trajectory).
//!
//! # Layout
//!
//! | file | content |
//! |---|---|
//! | `state.json` | `_data_files`: the shard files in order (`[{"filename": "data-00000-of-00001.arrow"}]`), and `datasets`' formatting state |
//! | `dataset_info.json` | `features`: the column types in `datasets`' JSON form |
//! | `data-0000K-of-0000N.arrow` | the rows, as an Arrow IPC **stream** (not the Arrow file format) |
//! | `eirl.json` | eirl only: `{"eirl_format": 1, "env_id": …, "expert_mean_return": …, "random_mean_return": …}`; `datasets` ignores it |
//!
//! Columns (one row per trajectory of `T ≥ 1` actions, the schema of
//! `imitation.data.huggingface_utils.trajectories_to_dict`):
//!
//! | column | Arrow type | per row |
//! |---|---|---|
//! | `obs` | `list<list<float32>>` | the `T + 1` observations |
//! | `acts` | `list<int64>` / `list<list<float32>>` | the `T` discrete / continuous actions |
//! | `infos` | `list<string>` | `T` jsonpickled info dicts (eirl writes `"{}"`, and never reads them) |
//! | `terminal` | `bool` | the trajectory ended in a terminal state |
//! | `rews` | `list<float32>` | the `T` rewards |
//!
//! On reading, `float64` values and `int32` actions are converted, `large_list` is accepted, and
//! a flat `list<float>` of observations (or actions) is one value per step. `infos` is skipped.
//! A folder without `eirl.json` (every file the `imitation` library writes) has no env id: see
//! [`Demonstrations::load_for`].
//!
//! # Hostile input
//!
//! Before the Arrow reader sees a stream, every message's framing (metadata and body lengths
//! against the bytes present), its flatbuffer (verified), the schema's column types (a short
//! list of list, number, bool and string types, no dictionaries) and every record batch's
//! buffers and lengths are checked here, because `arrow-ipc` trusts some of these and panics on
//! out-of-range ones. The decoded arrays are then validated by Arrow (offsets, UTF-8). A panic
//! inside the Arrow reader that these checks missed would still come back as an error naming
//! it, not unwind through the caller.
//!
//! # Writing
//!
//! One shard, `data-00000-of-00001.arrow`, in record batches of at most 1000 trajectories (as
//! `datasets` writes them); the feature JSON uses `datasets`' `Sequence` form, which every
//! version from 2.x to 5.x reads. The folder is written whole into a temp folder next to the
//! target and renamed into place; an existing datasets folder there is replaced (moved aside,
//! then deleted), any other existing path is refused.

use std::fs;
use std::io::{self, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array,
    Int64Array, LargeListArray, ListArray, RecordBatch, StringArray, UInt8Array, UInt16Array,
    UInt32Array, UInt64Array,
};
use arrow_buffer::OffsetBuffer;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{DataType, Field, Schema};
use eirl_envs::{ActionKind, Actions};

use crate::demos::{Demonstrations, Episode, FORMAT_VERSION, MAX_DISCRETE_ACTION};
use crate::error::ImitationError;
use crate::npy::LoadLimits;

/// `datasets`' state file: the list of shards.
pub(crate) const STATE_FILE: &str = "state.json";
/// `datasets`' info file: the features.
pub(crate) const INFO_FILE: &str = "dataset_info.json";
/// eirl's metadata beside them.
pub(crate) const EIRL_FILE: &str = "eirl.json";
/// What a `DatasetDict` folder has instead of `state.json`.
const DICT_FILE: &str = "dataset_dict.json";
/// The one shard eirl writes.
const SHARD_FILE: &str = "data-00000-of-00001.arrow";
/// Largest JSON file read.
const MAX_JSON_BYTES: u64 = 1 << 20;
/// Trajectories per record batch written (`datasets`' default `writer_batch_size`).
const ROWS_PER_BATCH: usize = 1000;
/// Deepest type nesting accepted (`list<list<float>>` is 3).
const MAX_TYPE_DEPTH: usize = 4;

/// Whether `dir` looks like a `datasets` folder (has `state.json`).
pub(crate) fn is_dataset_dir(dir: &Path) -> bool {
    dir.join(STATE_FILE).is_file()
}

fn format_error(origin: &Path, reason: impl Into<String>) -> ImitationError {
    ImitationError::Format {
        origin: origin.display().to_string(),
        reason: reason.into(),
    }
}

fn io_error(path: &Path) -> impl Fn(io::Error) -> ImitationError + '_ {
    move |source| ImitationError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads at most `limit` bytes of `path`; more is an error (checked while reading, so a file
/// that grows after its size was looked at is still bounded).
fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ImitationError> {
    let file = fs::File::open(path).map_err(io_error(path))?;
    let len = file.metadata().map_err(io_error(path))?.len();
    if len > limit {
        return Err(format_error(
            path,
            format!("{len} bytes, more than the limit of {limit}"),
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_error(path))?;
    if bytes.len() as u64 > limit {
        return Err(format_error(
            path,
            format!("more than the limit of {limit} bytes"),
        ));
    }
    Ok(bytes)
}

fn read_json(path: &Path) -> Result<serde_json::Value, ImitationError> {
    let bytes = read_bounded(path, MAX_JSON_BYTES)?;
    serde_json::from_slice(&bytes).map_err(|e| format_error(path, format!("not valid JSON: {e}")))
}

/// The shard file names `state.json` lists, checked to be plain names inside the folder.
fn shard_names(dir: &Path, limits: &LoadLimits) -> Result<Vec<String>, ImitationError> {
    let state_path = dir.join(STATE_FILE);
    if !state_path.is_file() {
        let reason = if dir.join(DICT_FILE).is_file() {
            "a DatasetDict folder (it has dataset_dict.json): pass one of its splits' folders"
                .to_string()
        } else {
            format!(
                "a folder without {STATE_FILE}: not a HuggingFace datasets folder \
                 (imitation.data.serialize.save writes one), and not an .npz"
            )
        };
        return Err(format_error(dir, reason));
    }
    let state = read_json(&state_path)?;
    let files = state
        .get("_data_files")
        .and_then(|f| f.as_array())
        .ok_or_else(|| format_error(&state_path, "no `_data_files` list"))?;
    if files.is_empty() {
        return Err(format_error(&state_path, "`_data_files` is empty"));
    }
    if files.len() > limits.max_entries {
        return Err(format_error(
            &state_path,
            format!(
                "{} data files, more than the limit of {}",
                files.len(),
                limits.max_entries
            ),
        ));
    }
    files
        .iter()
        .map(|f| {
            let name = f.get("filename").and_then(|n| n.as_str()).ok_or_else(|| {
                format_error(&state_path, "a `_data_files` entry lacks `filename`")
            })?;
            let plain = !name.is_empty()
                && name != "."
                && name != ".."
                && !name.contains(['/', '\\', '\0'])
                && !name.contains(':');
            if !plain {
                return Err(format_error(
                    &state_path,
                    format!("data file name {name:?} is not a plain file name in the folder"),
                ));
            }
            Ok(name.to_string())
        })
        .collect()
}

/// eirl's metadata (`eirl.json`), when the folder has it.
#[derive(Debug, Default, serde::Deserialize, serde::Serialize)]
struct EirlMeta {
    eirl_format: i64,
    env_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expert_mean_return: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    random_mean_return: Option<f64>,
}

fn read_meta(dir: &Path) -> Result<Option<EirlMeta>, ImitationError> {
    let path = dir.join(EIRL_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read_bounded(&path, MAX_JSON_BYTES)?;
    let meta: EirlMeta = serde_json::from_slice(&bytes)
        .map_err(|e| format_error(&path, format!("not eirl metadata: {e}")))?;
    if meta.eirl_format != FORMAT_VERSION {
        return Err(format_error(
            &path,
            format!(
                "eirl_format {} is not the supported version {FORMAT_VERSION}",
                meta.eirl_format
            ),
        ));
    }
    for r in [meta.expert_mean_return, meta.random_mean_return]
        .into_iter()
        .flatten()
    {
        if !r.is_finite() {
            return Err(format_error(&path, "non-finite mean return"));
        }
    }
    Ok(Some(meta))
}

/// Loads a `datasets` folder (layout in the module docs).
pub(crate) fn load_dir(dir: &Path, limits: &LoadLimits) -> Result<Demonstrations, ImitationError> {
    let names = shard_names(dir, limits)?;
    let meta = read_meta(dir)?;
    let mut total = 0u64;
    let mut rows = Rows::default();
    for name in &names {
        let path = dir.join(name);
        let bytes = read_bounded(&path, limits.max_file_bytes.saturating_sub(total))?;
        total += bytes.len() as u64;
        let batches = read_stream(&bytes).map_err(|reason| format_error(&path, reason))?;
        for batch in &batches {
            rows.add(batch)
                .map_err(|reason| format_error(&path, reason))?;
        }
    }
    let mut demos = rows
        .into_demonstrations(meta.as_ref().map_or("", |m| m.env_id.as_str()))
        .map_err(|reason| format_error(dir, reason))?;
    if let Some(m) = meta {
        demos.set_expert_mean_return(m.expert_mean_return);
        demos.set_random_mean_return(m.random_mean_return);
    }
    Ok(demos)
}

/// One shard (an Arrow IPC stream) held in memory, without the folder's metadata.
pub(crate) fn from_stream(
    bytes: &[u8],
    limits: &LoadLimits,
) -> Result<Demonstrations, ImitationError> {
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(ImitationError::format("stream exceeds the size limit"));
    }
    let mut rows = Rows::default();
    for batch in read_stream(bytes).map_err(ImitationError::format)? {
        rows.add(&batch).map_err(ImitationError::format)?;
    }
    rows.into_demonstrations("").map_err(ImitationError::format)
}

// ---------------------------------------------------------------------------------------------
// Arrow IPC stream: framing and schema checks, then arrow-ipc's reader.

const CONTINUATION: u32 = 0xFFFF_FFFF;

fn u32_at(bytes: &[u8], pos: usize) -> Option<u32> {
    let b = bytes.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Checks every message of an IPC stream (see the module docs) without decoding any data.
fn check_stream(bytes: &[u8]) -> Result<(), String> {
    if bytes.starts_with(b"ARROW1") {
        return Err("an Arrow IPC *file* (ARROW1 magic); datasets folders hold IPC streams".into());
    }
    let mut pos = 0usize;
    let mut index = 0usize;
    // Per array node of a record batch (depth first, as the IPC format lists them): the
    // element size of each of its buffers. Set by the schema message.
    let mut layout: Vec<Vec<usize>> = Vec::new();
    loop {
        let Some(mut len) = u32_at(bytes, pos) else {
            if pos == bytes.len() && index > 0 {
                return Ok(()); // a stream may end without its end-of-stream marker
            }
            return Err(format!(
                "truncated: {} bytes where message {index}'s length should be",
                bytes.len() - pos
            ));
        };
        pos += 4;
        if len == CONTINUATION {
            len = u32_at(bytes, pos)
                .ok_or_else(|| format!("truncated after message {index}'s continuation marker"))?;
            pos += 4;
        }
        if len == 0 {
            if index == 0 {
                return Err("an empty stream: no schema".into());
            }
            return Ok(()); // end-of-stream marker
        }
        let len =
            usize::try_from(i32::try_from(len).map_err(|_| {
                format!("message {index}: negative metadata length {}", len as i32)
            })?)
            .map_err(|_| format!("message {index}: bad metadata length"))?;
        let meta_end = pos
            .checked_add(len)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| {
                format!(
                    "message {index}: {len} bytes of metadata run past the end of the stream \
                     ({} bytes; truncated?)",
                    bytes.len()
                )
            })?;
        let message = arrow_ipc::root_as_message(&bytes[pos..meta_end])
            .map_err(|e| format!("message {index}: invalid metadata ({e})"))?;
        let body = usize::try_from(message.bodyLength())
            .map_err(|_| format!("message {index}: negative body length"))?;
        let end = meta_end
            .checked_add(body)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| {
                format!(
                    "message {index}: a body of {body} bytes runs past the end of the stream \
                     ({} bytes; truncated?)",
                    bytes.len()
                )
            })?;
        match message.header_type() {
            arrow_ipc::MessageHeader::Schema if index == 0 => {
                let schema = message
                    .header_as_schema()
                    .ok_or("message 0: schema header missing")?;
                layout = check_schema(&schema)?;
            }
            arrow_ipc::MessageHeader::RecordBatch if index > 0 => {
                let batch = message
                    .header_as_record_batch()
                    .ok_or_else(|| format!("message {index}: record batch header missing"))?;
                check_batch(&batch, body, &layout)
                    .map_err(|e| format!("record batch {index}: {e}"))?;
            }
            other if index == 0 => {
                return Err(format!(
                    "the stream starts with a {other:?} message, not a schema"
                ));
            }
            other => {
                return Err(format!(
                    "message {index}: a {other:?} message, which a trajectory dataset does not hold"
                ));
            }
        }
        pos = end;
        index += 1;
    }
}

/// Checks the schema; returns the element sizes of each array node's buffers, depth first.
fn check_schema(schema: &arrow_ipc::Schema<'_>) -> Result<Vec<Vec<usize>>, String> {
    if schema.endianness() != arrow_ipc::Endianness::Little {
        return Err("a big-endian stream".into());
    }
    let fields = schema.fields().ok_or("the schema has no field list")?;
    let mut layout = Vec::new();
    for field in fields {
        check_field(&field, 1, &mut layout)?;
    }
    Ok(layout)
}

/// Accepts the column types a trajectory dataset holds (lists, numbers, bools, strings), each
/// with the type table arrow-ipc will unwrap.
fn check_field(
    field: &arrow_ipc::Field<'_>,
    depth: usize,
    layout: &mut Vec<Vec<usize>>,
) -> Result<(), String> {
    use arrow_ipc::Type;
    let name = field.name().unwrap_or("<unnamed>");
    if depth > MAX_TYPE_DEPTH {
        return Err(format!(
            "column '{name}': types nested deeper than {MAX_TYPE_DEPTH}"
        ));
    }
    if field.dictionary().is_some() {
        return Err(format!(
            "column '{name}': dictionary-encoded columns are not supported"
        ));
    }
    let bad = |what: &str| format!("column '{name}': {what}");
    let children = field.children().map_or(0, |c| c.len());
    let ty = field.type_type();
    // Validity bitmap (bytes), then offsets and/or data, with the size of their elements.
    let mut buffers = vec![1];
    let at = layout.len();
    layout.push(Vec::new());
    match ty {
        Type::Int => {
            let int = field
                .type_as_int()
                .ok_or_else(|| bad("Int type without its table"))?;
            if ![8, 16, 32, 64].contains(&int.bitWidth()) {
                return Err(bad(&format!("integers of {} bits", int.bitWidth())));
            }
            buffers.push(int.bitWidth() as usize / 8);
        }
        Type::FloatingPoint => {
            let f = field
                .type_as_floating_point()
                .ok_or_else(|| bad("FloatingPoint type without its table"))?;
            if ![
                arrow_ipc::Precision::HALF,
                arrow_ipc::Precision::SINGLE,
                arrow_ipc::Precision::DOUBLE,
            ]
            .contains(&f.precision())
            {
                return Err(bad(&format!("unknown float precision {:?}", f.precision())));
            }
            buffers.push(match f.precision() {
                arrow_ipc::Precision::HALF => 2,
                arrow_ipc::Precision::SINGLE => 4,
                _ => 8,
            });
        }
        Type::Bool => {
            field
                .type_as_bool()
                .ok_or_else(|| bad("Bool type without its table"))?;
            buffers.push(1);
        }
        Type::Utf8 => {
            field
                .type_as_utf_8()
                .ok_or_else(|| bad("Utf8 type without its table"))?;
            buffers.extend([4, 1]);
        }
        Type::LargeUtf8 => {
            field
                .type_as_large_utf_8()
                .ok_or_else(|| bad("LargeUtf8 type without its table"))?;
            buffers.extend([8, 1]);
        }
        Type::List | Type::LargeList => {
            let table = match ty {
                Type::List => field.type_as_list().map(|_| ()),
                _ => field.type_as_large_list().map(|_| ()),
            };
            table.ok_or_else(|| bad("list type without its table"))?;
            buffers.push(if ty == Type::List { 4 } else { 8 });
            layout[at] = buffers;
            let child = field
                .children()
                .filter(|c| c.len() == 1)
                .ok_or_else(|| bad(&format!("a list with {children} child types, not 1")))?
                .get(0);
            return check_field(&child, depth + 1, layout);
        }
        other => {
            return Err(bad(&format!(
                "Arrow type {other:?}, which a trajectory dataset does not hold"
            )));
        }
    }
    if children != 0 {
        return Err(bad(&format!("a {ty:?} type with {children} child types")));
    }
    layout[at] = buffers;
    Ok(())
}

/// Every buffer inside the body, every length small enough that no size computed from it
/// overflows (an element of any accepted type takes at least one bit of some buffer).
fn check_batch(
    batch: &arrow_ipc::RecordBatch<'_>,
    body: usize,
    layout: &[Vec<usize>],
) -> Result<(), String> {
    if batch.compression().is_some() {
        return Err("compressed buffers are not supported (datasets writes none)".into());
    }
    if batch.variadicBufferCounts().is_some_and(|v| !v.is_empty()) {
        return Err("variadic buffers (view types) are not supported".into());
    }
    let max_len = (body as u64).saturating_mul(8).saturating_add(8);
    let in_range = |n: i64| u64::try_from(n).is_ok_and(|n| n <= max_len);
    if !in_range(batch.length()) {
        return Err(format!(
            "{} rows do not fit a body of {body} bytes",
            batch.length()
        ));
    }
    for node in batch.nodes().iter().flatten() {
        if !in_range(node.length()) || node.null_count() < 0 || node.null_count() > node.length() {
            return Err(format!(
                "an array of length {} with {} nulls does not fit a body of {body} bytes",
                node.length(),
                node.null_count()
            ));
        }
    }
    let nodes: Vec<_> = batch.nodes().iter().flatten().collect();
    let buffers: Vec<_> = batch.buffers().iter().flatten().collect();
    let expected_buffers: usize = layout.iter().map(Vec::len).sum();
    if nodes.len() != layout.len() || buffers.len() != expected_buffers {
        return Err(format!(
            "{} arrays and {} buffers, where the schema has {} and {expected_buffers}",
            nodes.len(),
            buffers.len(),
            layout.len(),
        ));
    }
    // What Arrow asserts rather than checks: a node with nulls has a validity bitmap of a bit
    // per element, and every buffer holds whole elements.
    let mut first = 0;
    for (node, node_layout) in nodes.iter().zip(layout) {
        let bits = u64::try_from(buffers[first].length())
            .unwrap_or(0)
            .saturating_mul(8);
        if node.null_count() > 0 && bits < node.length() as u64 {
            return Err(format!(
                "an array of {} elements with nulls has a validity bitmap of {bits} bits",
                node.length()
            ));
        }
        first += node_layout.len();
    }
    for (buf, &size) in buffers.iter().zip(layout.iter().flatten()) {
        if buf.length() % size as i64 != 0 {
            return Err(format!(
                "a buffer of {} bytes for elements of {size} bytes",
                buf.length()
            ));
        }
    }
    for buf in &buffers {
        let fits = u64::try_from(buf.offset())
            .ok()
            .zip(u64::try_from(buf.length()).ok())
            .and_then(|(o, l)| o.checked_add(l))
            .is_some_and(|end| end <= body as u64);
        if !fits {
            return Err(format!(
                "a buffer at offset {} of {} bytes lies outside the body of {body} bytes",
                buf.offset(),
                buf.length()
            ));
        }
    }
    Ok(())
}

/// The record batches of a checked stream.
fn read_stream(bytes: &[u8]) -> Result<Vec<RecordBatch>, String> {
    check_stream(bytes)?;
    let decode = || -> Result<Vec<RecordBatch>, String> {
        let reader = StreamReader::try_new(io::Cursor::new(bytes), None)
            .map_err(|e| format!("Arrow stream: {e}"))?;
        reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("Arrow stream: {e}"))
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)) {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no message");
            Err(format!("the Arrow reader panicked on this stream: {what}"))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Columns to trajectories.

/// A list column: each row's range into `values`.
struct Lists<'a> {
    rows: Vec<Range<usize>>,
    values: &'a ArrayRef,
}

fn no_nulls(array: &dyn Array, what: &str) -> Result<(), String> {
    if array.null_count() > 0 {
        return Err(format!(
            "{what} has {} missing (null) values",
            array.null_count()
        ));
    }
    Ok(())
}

fn ranges<O: Copy + TryInto<usize>>(
    offsets: &[O],
    what: &str,
) -> Result<Vec<Range<usize>>, String> {
    let as_usize = |o: O| o.try_into().map_err(|_| format!("{what}: negative offset"));
    offsets
        .windows(2)
        .map(|w| {
            let (a, b) = (as_usize(w[0])?, as_usize(w[1])?);
            if a > b {
                return Err(format!("{what}: decreasing offsets"));
            }
            Ok(a..b)
        })
        .collect()
}

fn lists<'a>(array: &'a ArrayRef, what: &str) -> Result<Lists<'a>, String> {
    no_nulls(array.as_ref(), what)?;
    let (rows, values) = if let Some(l) = array.as_any().downcast_ref::<ListArray>() {
        (ranges(l.value_offsets(), what)?, l.values())
    } else if let Some(l) = array.as_any().downcast_ref::<LargeListArray>() {
        (ranges(l.value_offsets(), what)?, l.values())
    } else {
        return Err(format!(
            "{what} has Arrow type {}, expected a list per trajectory",
            array.data_type()
        ));
    };
    if rows.last().is_some_and(|r| r.end > values.len()) {
        return Err(format!("{what}: offsets past the end of the values"));
    }
    Ok(Lists { rows, values })
}

fn floats(array: &ArrayRef, what: &str) -> Result<Vec<f32>, String> {
    no_nulls(array.as_ref(), what)?;
    if let Some(a) = array.as_any().downcast_ref::<Float32Array>() {
        Ok(a.values().to_vec())
    } else if let Some(a) = array.as_any().downcast_ref::<Float64Array>() {
        Ok(a.values().iter().map(|&v| v as f32).collect())
    } else {
        Err(format!(
            "{what} has Arrow type {}, expected float32 or float64",
            array.data_type()
        ))
    }
}

/// Integer values as i64, `None` when `array` is not an integer array.
fn integers(array: &ArrayRef) -> Option<Vec<i64>> {
    let any = array.as_any();
    macro_rules! try_int {
        ($($t:ty),*) => {$(
            if let Some(a) = any.downcast_ref::<$t>() {
                return Some(a.values().iter().map(|&v| i64::try_from(v).unwrap_or(-1)).collect());
            }
        )*};
    }
    try_int!(
        Int8Array,
        Int16Array,
        Int32Array,
        Int64Array,
        UInt8Array,
        UInt16Array,
        UInt32Array,
        UInt64Array
    );
    None
}

/// One step's values per row: a `list<list<float>>` column (`width` values per step), or a flat
/// `list<float>` (one value per step). Row `r` is `values[rows[r].start * width ..
/// rows[r].end * width]`.
struct Steps {
    rows: Vec<Range<usize>>,
    values: Vec<f32>,
    width: usize,
}

fn float_steps(array: &ArrayRef, what: &str) -> Result<Steps, String> {
    let outer = lists(array, what)?;
    let (values, width) = match outer.values.data_type() {
        DataType::List(_) | DataType::LargeList(_) => {
            let inner = lists(outer.values, what)?;
            let values = floats(inner.values, what)?;
            let width = inner.rows.first().map_or(1, |r| r.len());
            if width == 0 {
                return Err(format!("{what}: steps of width 0"));
            }
            // Step `j` must be values `base + j·width ..`: equal widths, contiguous.
            let base = inner.rows.first().map_or(0, |r| r.start);
            for (j, r) in inner.rows.iter().enumerate() {
                if r.len() != width {
                    return Err(format!(
                        "{what}: steps of different widths ({width} and {})",
                        r.len()
                    ));
                }
                if r.start != base + j * width {
                    return Err(format!("{what}: steps are not stored contiguously"));
                }
            }
            let end = base + inner.rows.len() * width;
            let values = values
                .get(base..end)
                .map(<[f32]>::to_vec)
                .ok_or_else(|| format!("{what}: offsets past the end of the values"))?;
            (values, width)
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            (floats(outer.values, what)?, 1)
        }
        other if other.is_nested() => {
            return Err(format!(
                "{what} has Arrow type {}: only one dimension per step is supported",
                array.data_type()
            ));
        }
        other => {
            return Err(format!(
                "{what} has Arrow type {}: expected floats per step, not {other}",
                array.data_type()
            ));
        }
    };
    if outer
        .rows
        .iter()
        .any(|r| r.end.checked_mul(width).is_none_or(|e| e > values.len()))
    {
        return Err(format!("{what}: rows past the end of the values"));
    }
    Ok(Steps {
        rows: outer.rows,
        values,
        width,
    })
}

impl Steps {
    /// Row `r`'s values (in bounds: checked by [`float_steps`]).
    fn row(&self, r: usize) -> &[f32] {
        let steps = &self.rows[r];
        &self.values[steps.start * self.width..steps.end * self.width]
    }
}

/// The trajectories gathered from the record batches, in order.
#[derive(Default)]
struct Rows {
    episodes: Vec<Episode>,
    obs_dim: Option<usize>,
    kind: Option<ActionKind>,
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, String> {
    batch.column_by_name(name).ok_or_else(|| {
        let hint = if name == "rews" {
            " (trajectories without rewards: eirl needs imitation's TrajectoryWithRew)"
        } else {
            ""
        };
        format!("no '{name}' column{hint}")
    })
}

impl Rows {
    fn add(&mut self, batch: &RecordBatch) -> Result<(), String> {
        let n = batch.num_rows();
        let obs = float_steps(column(batch, "obs")?, "obs")?;
        let rews = lists(column(batch, "rews")?, "rews")?;
        let rew_values = floats(rews.values, "rews")?;
        let terminal = column(batch, "terminal")?;
        no_nulls(terminal.as_ref(), "terminal")?;
        let terminal = terminal
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| {
                format!(
                    "terminal has Arrow type {}, expected bool",
                    terminal.data_type()
                )
            })?;
        let acts_col = column(batch, "acts")?;
        let acts = lists(acts_col, "acts")?;
        let discrete = integers(acts.values);
        let continuous = match discrete {
            Some(_) => None,
            None => Some(float_steps(acts_col, "acts")?),
        };
        if discrete.is_some() {
            no_nulls(acts.values.as_ref(), "acts")?;
        }
        if [
            obs.rows.len(),
            rews.rows.len(),
            acts.rows.len(),
            terminal.len(),
        ]
        .iter()
        .any(|&len| len != n)
        {
            return Err("columns of different lengths".into());
        }
        for r in 0..n {
            let k = self.episodes.len();
            let t = acts.rows[r].len();
            let steps = obs.rows[r].len();
            if t == 0 {
                return Err(format!("trajectory {k} has no actions"));
            }
            if steps != t + 1 {
                return Err(format!(
                    "trajectory {k} has {t} actions and {steps} observations (expected {})",
                    t + 1
                ));
            }
            if rews.rows[r].len() != t {
                return Err(format!(
                    "trajectory {k} has {t} actions and {} rewards",
                    rews.rows[r].len()
                ));
            }
            if *self.obs_dim.get_or_insert(obs.width) != obs.width {
                return Err("observation widths differ between record batches".into());
            }
            let actions = match (&discrete, &continuous) {
                (Some(all), _) => {
                    let a = all
                        .get(acts.rows[r].clone())
                        .ok_or_else(|| format!("trajectory {k}: actions outside the values"))?;
                    if let Some(bad) = a.iter().find(|&&a| !(0..MAX_DISCRETE_ACTION).contains(&a)) {
                        return Err(format!(
                            "trajectory {k}: discrete action {bad} out of range"
                        ));
                    }
                    Actions::Discrete(a.iter().map(|&a| a as usize).collect())
                }
                (None, Some(s)) => Actions::Continuous {
                    values: s.row(r).to_vec(),
                    dim: s.width,
                },
                (None, None) => return Err("acts has no values".into()),
            };
            if *self.kind.get_or_insert(actions.kind()) != actions.kind() {
                return Err("action kinds differ between record batches".into());
            }
            let rewards = rew_values
                .get(rews.rows[r].clone())
                .ok_or_else(|| format!("trajectory {k}: rewards outside the values"))?
                .to_vec();
            self.episodes.push(Episode {
                obs: obs.row(r).to_vec(),
                actions,
                rewards,
                terminated: terminal.value(r),
            });
        }
        Ok(())
    }

    fn into_demonstrations(self, env_id: &str) -> Result<Demonstrations, String> {
        let (Some(obs_dim), Some(kind)) = (self.obs_dim, self.kind) else {
            return Err("holds no trajectories".into());
        };
        let mut demos = Demonstrations::new(env_id, obs_dim, kind);
        for (k, ep) in self.episodes.iter().enumerate() {
            demos
                .push_episode(ep)
                .map_err(|e| format!("trajectory {k}: {e}"))?;
        }
        Ok(demos)
    }
}

// ---------------------------------------------------------------------------------------------
// Writing.

fn offsets(lengths: impl Iterator<Item = usize>) -> Result<OffsetBuffer<i32>, ImitationError> {
    let mut out = vec![0i32];
    let mut at = 0usize;
    for len in lengths {
        at = at
            .checked_add(len)
            .filter(|&a| a <= i32::MAX as usize)
            .ok_or_else(|| {
                ImitationError::Invalid("a record batch of more than 2³¹ values".into())
            })?;
        out.push(at as i32);
    }
    Ok(OffsetBuffer::new(out.into()))
}

fn list(
    item: DataType,
    lengths: impl Iterator<Item = usize>,
    values: ArrayRef,
) -> Result<ArrayRef, ImitationError> {
    let field = Arc::new(Field::new_list_field(item, true));
    let array = ListArray::try_new(field, offsets(lengths)?, values, None)
        .map_err(|e| ImitationError::Invalid(format!("building an Arrow list: {e}")))?;
    Ok(Arc::new(array))
}

/// `steps` rows of `width` floats each, as `list<list<float32>>` with the given per-row step
/// counts.
fn nested_floats(
    values: Vec<f32>,
    width: usize,
    steps_per_row: &[usize],
) -> Result<ArrayRef, ImitationError> {
    let steps = values.len() / width.max(1);
    let inner = list(
        DataType::Float32,
        std::iter::repeat_n(width, steps),
        Arc::new(Float32Array::from(values)),
    )?;
    let item = inner.data_type().clone();
    list(item, steps_per_row.iter().copied(), inner)
}

/// `datasets`' JSON for a feature, in the `Sequence` form every version reads.
fn value(dtype: &str) -> String {
    format!(r#"{{"dtype": "{dtype}", "_type": "Value"}}"#)
}

fn sequence(feature: &str) -> String {
    format!(r#"{{"feature": {feature}, "length": -1, "_type": "Sequence"}}"#)
}

fn features_json(kind: ActionKind) -> String {
    let acts = match kind {
        ActionKind::Discrete => sequence(&value("int64")),
        ActionKind::Continuous(_) => sequence(&sequence(&value("float32"))),
    };
    format!(
        r#"{{"obs": {}, "acts": {acts}, "infos": {}, "terminal": {}, "rews": {}}}"#,
        sequence(&sequence(&value("float32"))),
        sequence(&value("string")),
        value("bool"),
        sequence(&value("float32")),
    )
}

/// One record batch of the episodes `range`.
fn batch(
    d: &Demonstrations,
    range: Range<usize>,
    schema: &Arc<Schema>,
) -> Result<RecordBatch, ImitationError> {
    let eps: Vec<Episode> = range.filter_map(|e| d.episode(e)).collect();
    let lens: Vec<usize> = eps.iter().map(|ep| ep.rewards.len()).collect();
    let steps: Vec<usize> = lens.iter().map(|t| t + 1).collect();
    let obs: Vec<f32> = eps.iter().flat_map(|ep| ep.obs.iter().copied()).collect();
    let obs = nested_floats(obs, d.obs_dim(), &steps)?;
    let acts = match d.action_kind() {
        ActionKind::Discrete => {
            let a: Vec<i64> = eps
                .iter()
                .flat_map(|ep| match &ep.actions {
                    Actions::Discrete(a) => a.iter().map(|&x| x as i64).collect(),
                    Actions::Continuous { .. } => Vec::new(),
                })
                .collect();
            list(
                DataType::Int64,
                lens.iter().copied(),
                Arc::new(Int64Array::from(a)),
            )?
        }
        ActionKind::Continuous(dim) => {
            let a: Vec<f32> = eps
                .iter()
                .flat_map(|ep| match &ep.actions {
                    Actions::Continuous { values, .. } => values.clone(),
                    Actions::Discrete(_) => Vec::new(),
                })
                .collect();
            nested_floats(a, dim, &lens)?
        }
    };
    let n: usize = lens.iter().sum();
    let infos = list(
        DataType::Utf8,
        lens.iter().copied(),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n("{}", n))),
    )?;
    let terminal: ArrayRef = Arc::new(BooleanArray::from(
        eps.iter().map(|ep| ep.terminated).collect::<Vec<_>>(),
    ));
    let rews: Vec<f32> = eps
        .iter()
        .flat_map(|ep| ep.rewards.iter().copied())
        .collect();
    let rews = list(
        DataType::Float32,
        lens.iter().copied(),
        Arc::new(Float32Array::from(rews)),
    )?;
    RecordBatch::try_new(schema.clone(), vec![obs, acts, infos, terminal, rews])
        .map_err(|e| ImitationError::Invalid(format!("building an Arrow record batch: {e}")))
}

fn schema_for(kind: ActionKind, features: &str) -> Arc<Schema> {
    let floats = DataType::List(Arc::new(Field::new_list_field(DataType::Float32, true)));
    let nested = DataType::List(Arc::new(Field::new_list_field(floats.clone(), true)));
    let acts = match kind {
        ActionKind::Discrete => {
            DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true)))
        }
        ActionKind::Continuous(_) => nested.clone(),
    };
    let fields = vec![
        Field::new("obs", nested, true),
        Field::new("acts", acts, true),
        Field::new(
            "infos",
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
            true,
        ),
        Field::new("terminal", DataType::Boolean, true),
        Field::new("rews", floats, true),
    ];
    let metadata = [(
        "huggingface".to_string(),
        format!(r#"{{"info": {{"features": {features}}}}}"#),
    )]
    .into_iter()
    .collect();
    Arc::new(Schema::new_with_metadata(fields, metadata))
}

/// The Arrow stream of all episodes, in batches of at most [`ROWS_PER_BATCH`] trajectories
/// whose observations fit 32-bit offsets.
fn stream_bytes(d: &Demonstrations, schema: &Arc<Schema>) -> Result<Vec<u8>, ImitationError> {
    let arrow = |e: arrow_schema::ArrowError| {
        ImitationError::Invalid(format!("writing the Arrow stream: {e}"))
    };
    let mut writer = StreamWriter::try_new(Vec::new(), schema).map_err(arrow)?;
    let act_width = match d.action_kind() {
        ActionKind::Discrete => 1,
        ActionKind::Continuous(dim) => dim,
    };
    // The most values one column of the episode holds (its observations, or its actions).
    let per_episode = |e: usize| {
        d.episode(e)
            .map_or(0, |ep| ep.obs.len().max(ep.actions.len() * act_width))
    };
    let mut start = 0;
    while start < d.num_episodes() {
        let mut end = start;
        let mut values = 0usize;
        while end < d.num_episodes() && end - start < ROWS_PER_BATCH {
            let v = per_episode(end);
            if end > start && values + v > i32::MAX as usize {
                break;
            }
            values += v;
            end += 1;
        }
        writer
            .write(&batch(d, start..end, schema)?)
            .map_err(arrow)?;
        start = end;
    }
    writer.finish().map_err(arrow)?;
    writer.into_inner().map_err(arrow)
}

/// A 64-bit FNV-1a hash as 16 hex digits: the dataset's `_fingerprint` (any 16-hex-digit
/// string; `datasets` uses it for caching).
fn fingerprint(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The files of the folder for `d`: name and bytes.
pub(crate) fn dataset_files(
    d: &Demonstrations,
) -> Result<Vec<(&'static str, Vec<u8>)>, ImitationError> {
    if d.num_episodes() == 0 {
        return Err(ImitationError::Invalid(
            "no episodes: a datasets folder needs at least one trajectory".into(),
        ));
    }
    let features = features_json(d.action_kind());
    let schema = schema_for(d.action_kind(), &features);
    let stream = stream_bytes(d, &schema)?;
    let info = format!(
        "{{\n  \"citation\": \"\",\n  \"description\": {},\n  \"features\": {features},\n  \
         \"homepage\": \"\",\n  \"license\": \"\"\n}}",
        serde_json::to_string(&if d.env_id().is_empty() {
            "eirl demonstrations".to_string()
        } else {
            format!("eirl demonstrations of {}", d.env_id())
        })
        .unwrap_or_else(|_| "\"\"".into())
    );
    let state = format!(
        "{{\n  \"_data_files\": [\n    {{\n      \"filename\": \"{SHARD_FILE}\"\n    }}\n  ],\n  \
         \"_fingerprint\": \"{}\",\n  \"_format_columns\": null,\n  \"_format_kwargs\": {{}},\n  \
         \"_format_type\": null,\n  \"_output_all_columns\": false,\n  \"_split\": null\n}}",
        fingerprint(&stream)
    );
    let meta = EirlMeta {
        eirl_format: FORMAT_VERSION,
        env_id: d.env_id().to_string(),
        expert_mean_return: d.expert_mean_return(),
        random_mean_return: d.random_mean_return(),
    };
    let meta = serde_json::to_vec_pretty(&meta)
        .map_err(|e| ImitationError::Invalid(format!("eirl metadata: {e}")))?;
    Ok(vec![
        (SHARD_FILE, stream),
        (INFO_FILE, info.into_bytes()),
        (STATE_FILE, state.into_bytes()),
        (EIRL_FILE, meta),
    ])
}

/// Writes `d` as a `datasets` folder at `dir`, atomically (module docs).
pub(crate) fn save_dir(d: &Demonstrations, dir: &Path) -> Result<(), ImitationError> {
    let files = dataset_files(d)?;
    write_dir_atomically(dir, &files).map_err(io_error(dir))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `files` into a temp folder beside `dir`, then renames it to `dir`. An existing
/// `datasets` folder (or empty folder) at `dir` is moved aside first and deleted after; any
/// other existing path is refused.
fn write_dir_atomically(dir: &Path, files: &[(&str, Vec<u8>)]) -> io::Result<()> {
    let parent = parent_dir(dir);
    fs::create_dir_all(parent)?;
    let existing = match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {
            let empty = fs::read_dir(dir)?.next().is_none();
            if !empty && !is_dataset_dir(dir) {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "exists and is not a datasets folder (no state.json); not replacing it",
                ));
            }
            true
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a folder; not replacing it (a path ending in .npz is \
                 written as an .npz)",
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(eirl_runlog::TEMP_PREFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The umask applies, as for `fs::create_dir`.
        builder.permissions(fs::Permissions::from_mode(0o777));
    }
    let tmp = builder.tempdir_in(parent)?;
    for (name, bytes) in files {
        let mut f = fs::File::create(tmp.path().join(name))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    eirl_runlog::sync_dir(tmp.path())?;
    let aside: Option<PathBuf> = if existing {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let aside = parent.join(format!(
            "{}old-{}-{nanos}",
            eirl_runlog::TEMP_PREFIX,
            std::process::id()
        ));
        fs::rename(dir, &aside)?;
        Some(aside)
    } else {
        None
    };
    let tmp_path = tmp.keep();
    if let Err(e) = fs::rename(&tmp_path, dir) {
        // Put the old folder back; drop the new one.
        if let Some(aside) = &aside {
            let _ = fs::rename(aside, dir);
        }
        let _ = fs::remove_dir_all(&tmp_path);
        return Err(e);
    }
    if let Some(aside) = aside {
        fs::remove_dir_all(aside)?;
    }
    eirl_runlog::sync_dir(parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_checks_refuse_lying_lengths() {
        assert!(check_stream(b"").is_err());
        assert!(check_stream(b"ARROW1\0\0").is_err_and(|e| e.contains("IPC *file*")));
        // Continuation marker, then a metadata length beyond the bytes present.
        let mut lying = CONTINUATION.to_le_bytes().to_vec();
        lying.extend_from_slice(&4096u32.to_le_bytes());
        lying.extend_from_slice(&[0; 16]);
        assert!(check_stream(&lying).is_err_and(|e| e.contains("past the end")));
        // End-of-stream marker first: no schema.
        let mut eos = CONTINUATION.to_le_bytes().to_vec();
        eos.extend_from_slice(&0u32.to_le_bytes());
        assert!(check_stream(&eos).is_err_and(|e| e.contains("no schema")));
    }

    #[test]
    fn fingerprint_is_16_hex_digits() {
        let f = fingerprint(b"abc");
        assert_eq!(f.len(), 16);
        assert!(f.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(f, fingerprint(b"abd"));
    }
}
