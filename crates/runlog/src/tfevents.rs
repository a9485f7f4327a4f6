//! TensorBoard event files: scalar summaries in TFRecord framing.
//!
//! Message layout (tensorflow/core/util/event.proto, summary.proto), only the fields we use:
//! `Event { wall_time = 1 (double), step = 2 (int64), file_version = 3 (string),
//! summary = 5 (Summary), session_log = 7 (SessionLog) }`, `Summary { value = 1 (repeated
//! Value) }`, `Value { tag = 1 (string), simple_value = 2 (float) }`,
//! `SessionLog { status = 1 (enum: START = 1) }`.
//!
//! A resumed run cannot take back what the dead process wrote into its event file after the
//! checkpoint it resumes from. TensorBoard's own answer is the `SessionLog.START` event: on
//! reading one at step `s`, its event accumulator ("purge orphaned data", on by default) drops
//! every event it has read so far with step `>= s`. [`EventWriter::write_session_start`] writes
//! one as the first event of the resumed run's new file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::proto::{self, Field};
use crate::tfrecord;

/// The `file_version` TensorBoard expects in the first record.
pub const FILE_VERSION: &str = "brain.Event:2";

/// `SessionLog.SessionStatus.START` (tensorflow/core/util/event.proto).
const SESSION_START: u64 = 1;

/// Appends scalar summaries to one `events.out.tfevents.*` file.
#[derive(Debug)]
pub struct EventWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

impl EventWriter {
    /// Creates a new event file in `dir`, named
    /// `events.out.tfevents.<unix_seconds>.<hostname>.<pid>[.<n>]`, and writes the version record.
    pub fn create(dir: &Path, wall_time: f64) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let base = format!(
            "events.out.tfevents.{}.{}.{}",
            wall_time.max(0.0) as u64,
            hostname(),
            std::process::id()
        );
        let mut n = 0u32;
        let (file, path) = loop {
            let name = if n == 0 {
                base.clone()
            } else {
                format!("{base}.{n}")
            };
            let path = dir.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => break (file, path),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(e),
            }
        };
        let mut writer = EventWriter {
            out: BufWriter::new(file),
            path,
        };
        let mut event = Vec::new();
        proto::put_double(&mut event, 1, wall_time);
        proto::put_int64(&mut event, 2, 0);
        proto::put_bytes(&mut event, 3, FILE_VERSION.as_bytes());
        tfrecord::write_record(&mut writer.out, &event)?;
        writer.flush()?;
        Ok(writer)
    }

    /// The event file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one `Event` holding a `Summary` with every `(tag, value)` pair.
    pub fn write_scalars(
        &mut self,
        step: i64,
        wall_time: f64,
        scalars: &[(&str, f32)],
    ) -> io::Result<()> {
        let mut summary = Vec::new();
        let mut value = Vec::new();
        for (tag, v) in scalars {
            value.clear();
            proto::put_bytes(&mut value, 1, tag.as_bytes());
            proto::put_float(&mut value, 2, *v);
            proto::put_bytes(&mut summary, 1, &value);
        }
        let mut event = Vec::new();
        proto::put_double(&mut event, 1, wall_time);
        proto::put_int64(&mut event, 2, step);
        proto::put_bytes(&mut event, 5, &summary);
        tfrecord::write_record(&mut self.out, &event)
    }

    /// Writes an `Event` with `session_log { status: START }` at `step`: TensorBoard then
    /// forgets every event read earlier (from this or older files of the run) whose step is
    /// `>= step`. A resumed run writes it first, at one past its checkpoint's step, so the
    /// events a crashed process wrote after that checkpoint disappear and those up to it stay.
    pub fn write_session_start(&mut self, step: i64, wall_time: f64) -> io::Result<()> {
        let mut session_log = Vec::new();
        proto::put_varint_field(&mut session_log, 1, SESSION_START);
        let mut event = Vec::new();
        proto::put_double(&mut event, 1, wall_time);
        proto::put_int64(&mut event, 2, step);
        proto::put_bytes(&mut event, 7, &session_log);
        tfrecord::write_record(&mut self.out, &event)
    }

    /// Pushes buffered records to the OS, so a live TensorBoard sees them.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// One decoded scalar: a `Summary.Value` together with its `Event`'s step and time.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarEvent {
    pub wall_time: f64,
    pub step: i64,
    pub tag: String,
    pub value: f32,
}

/// An event file, decoded: what eirl writes into one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFile {
    /// The `file_version` of the first record, if it had one.
    pub file_version: Option<String>,
    /// Every scalar, in file order.
    pub scalars: Vec<ScalarEvent>,
    /// The steps of the `session_log { status: START }` events, in file order.
    pub session_starts: Vec<i64>,
}

/// Decodes the scalars of an event file (checking every CRC), for tests and evaluation tools.
/// Also returns the file's `file_version`, if its first record had one.
pub fn read_scalar_events(path: &Path) -> Result<(Option<String>, Vec<ScalarEvent>)> {
    let file = read_events(path)?;
    Ok((file.file_version, file.scalars))
}

/// Decodes an event file (checking every CRC): its version, scalars and session starts.
pub fn read_events(path: &Path) -> Result<EventFile> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    let malformed = |message: String| Error::Events {
        path: path.to_path_buf(),
        message,
    };
    let records = tfrecord::read_records(&bytes).map_err(malformed)?;
    let mut file = EventFile::default();
    for (i, record) in records.iter().enumerate() {
        decode_event(record, &mut file).map_err(|m| malformed(format!("record {i}: {m}")))?;
    }
    Ok(file)
}

fn decode_event(record: &[u8], file: &mut EventFile) -> std::result::Result<(), &'static str> {
    let (mut wall_time, mut step) = (0.0, 0);
    let mut values = Vec::new();
    let mut session_start = false;
    for field in proto::fields(record) {
        match field? {
            Field::Fixed64(1, b) => wall_time = f64::from_le_bytes(b),
            Field::Varint(2, v) => step = v as i64,
            Field::Bytes(3, s) => {
                file.file_version =
                    Some(String::from_utf8(s.to_vec()).map_err(|_| "file_version not UTF-8")?);
            }
            Field::Bytes(5, summary) => {
                for value in proto::fields(summary) {
                    if let Field::Bytes(1, v) = value? {
                        values.push(decode_value(v)?);
                    }
                }
            }
            Field::Bytes(7, session_log) => {
                for field in proto::fields(session_log) {
                    if let Field::Varint(1, status) = field? {
                        session_start = status == SESSION_START;
                    }
                }
            }
            _ => {}
        }
    }
    if session_start {
        file.session_starts.push(step);
    }
    file.scalars
        .extend(values.into_iter().map(|(tag, value)| ScalarEvent {
            wall_time,
            step,
            tag,
            value,
        }));
    Ok(())
}

fn decode_value(msg: &[u8]) -> std::result::Result<(String, f32), &'static str> {
    let (mut tag, mut value) = (String::new(), f32::NAN);
    for field in proto::fields(msg) {
        match field? {
            Field::Bytes(1, s) => {
                tag = String::from_utf8(s.to_vec()).map_err(|_| "tag not UTF-8")?
            }
            Field::Fixed32(2, b) => value = f32::from_le_bytes(b),
            _ => {}
        }
    }
    Ok((tag, value))
}

/// A file-name-safe host name (TensorBoard only uses it to make names unique).
fn hostname() -> String {
    let raw = fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let clean: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        "localhost".to_string()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_round_trip_through_file() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let mut w =
            EventWriter::create(dir.path(), 1_700_000_000.5).map_err(|e| Error::io("create", e))?;
        w.write_scalars(3, 1_700_000_001.0, &[("loss", 0.5), ("return", -2.0)])
            .map_err(|e| Error::io("write", e))?;
        w.write_scalars(-4, 1_700_000_002.0, &[("loss", 0.25)])
            .map_err(|e| Error::io("write", e))?;
        w.flush().map_err(|e| Error::io("flush", e))?;
        let name = w
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        assert!(
            name.starts_with("events.out.tfevents.1700000000."),
            "{name}"
        );

        let (version, events) = read_scalar_events(w.path())?;
        assert_eq!(version.as_deref(), Some(FILE_VERSION));
        let got: Vec<_> = events
            .iter()
            .map(|e| (e.step, e.tag.as_str(), e.value.to_bits()))
            .collect();
        assert_eq!(
            got,
            [
                (3, "loss", 0.5f32.to_bits()),
                (3, "return", (-2.0f32).to_bits()),
                (-4, "loss", 0.25f32.to_bits())
            ]
        );
        assert_eq!(events[2].wall_time.to_bits(), 1_700_000_002.0f64.to_bits());
        Ok(())
    }

    #[test]
    fn session_start_is_written_and_decoded() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let mut w = EventWriter::create(dir.path(), 10.0).map_err(|e| Error::io("create", e))?;
        w.write_session_start(501, 11.0)
            .map_err(|e| Error::io("write", e))?;
        w.write_scalars(600, 12.0, &[("loss", 1.0)])
            .map_err(|e| Error::io("write", e))?;
        w.flush().map_err(|e| Error::io("flush", e))?;
        let file = read_events(w.path())?;
        assert_eq!(file.session_starts, [501]);
        assert_eq!(file.scalars.len(), 1);
        // The same bytes TensorFlow writes for `Event(step=501, session_log=SessionLog(START))`
        // after the wall time: field 2 varint 501, field 7 of length 2 holding field 1 = 1.
        let bytes = std::fs::read(w.path()).map_err(|e| Error::io("read", e))?;
        assert!(
            bytes
                .windows(7)
                .any(|b| b == [0x10, 0xf5, 0x03, 0x3a, 0x02, 0x08, 0x01])
        );
        Ok(())
    }

    #[test]
    fn two_writers_in_one_second_get_distinct_files() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let a = EventWriter::create(dir.path(), 5.0)?;
        let b = EventWriter::create(dir.path(), 5.0)?;
        assert_ne!(a.path(), b.path());
        Ok(())
    }
}
