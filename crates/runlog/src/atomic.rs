//! Crash-safe file replacement: write a sibling temp file, fsync, rename over the target.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use tempfile::NamedTempFile;

/// Replaces `path` with `bytes` atomically: readers see the old file or the new one, never a
/// partial write. The temp file lives in the same directory so the final `rename` stays on one
/// filesystem.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("hello.txt");
/// eirl_runlog::atomic_write(&path, b"hi")?;
/// assert_eq!(std::fs::read(&path)?, b"hi");
/// # Ok(()) }
/// ```
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    atomic_write_with(path, |w| w.write_all(bytes))
}

/// Like [`atomic_write`], for writers that stream their output. If `write` fails, the target is
/// left untouched and the temp file is removed.
pub fn atomic_write_with<F>(path: &Path, write: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let dir = parent_dir(path);
    fs::create_dir_all(dir)?;
    let mut tmp = NamedTempFile::new_in(dir)?;
    {
        let mut buffered = BufWriter::new(tmp.as_file_mut());
        write(&mut buffered)?;
        buffered.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir);
    Ok(())
}

/// The directory that holds `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Best effort: make the rename itself durable. Not every platform lets a directory be opened.
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_existing_file() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("a.txt");
        atomic_write(&path, b"first")?;
        atomic_write(&path, b"second")?;
        assert_eq!(fs::read(&path)?, b"second");
        Ok(())
    }

    #[test]
    fn failed_writer_leaves_old_contents_and_no_temp_files() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("a.txt");
        atomic_write(&path, b"old")?;
        let result = atomic_write_with(&path, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("boom"))
        });
        assert!(result.is_err());
        assert_eq!(fs::read(&path)?, b"old");
        assert_eq!(fs::read_dir(dir.path())?.count(), 1);
        Ok(())
    }

    #[test]
    fn creates_missing_parent_directories() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("x/y/z.bin");
        atomic_write(&path, &[1, 2, 3])?;
        assert_eq!(fs::read(&path)?, [1, 2, 3]);
        Ok(())
    }
}
