//! Crash-safe file replacement: write a sibling temp file, fsync, rename over the target, fsync
//! the directory.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Name prefix of the temp files [`atomic_write`] creates next to its target. A crash between
/// creating one and renaming it leaves it behind; [`remove_orphaned_temp_files`] finds them by
/// this prefix.
pub const TEMP_PREFIX: &str = ".eirl-tmp-";

/// Replaces `path` with `bytes` atomically: readers see the old file or the new one, never a
/// partial write. The temp file lives in the same directory so the final `rename` stays on one
/// filesystem, and the new file gets the mode a plain `File::create` would give it
/// (`0o666 & !umask` on Unix), not a temp file's `0o600`.
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
    let mut tmp = temp_file_in(dir, "")?;
    {
        let mut buffered = BufWriter::new(tmp.as_file_mut());
        write(&mut buffered)?;
        buffered.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// A new temp file in `dir` named [`TEMP_PREFIX`]…`suffix`, with the mode `File::create` would
/// give it (`0o666 & !umask` on Unix: the kernel applies the umask to the mode asked for at
/// creation), not `tempfile`'s `0o600`. Deleted on drop unless persisted.
pub(crate) fn temp_file_in(dir: &Path, suffix: &str) -> io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).suffix(suffix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

/// Removes the temp files that [`atomic_write`] and the PNG plots (and, before they were named
/// alike, `tempfile`'s `.tmpXXXXXX` and `.plot-XXXXXX.png`) left in `dir` when a process died mid-write; returns how many. Only call it
/// when no other process is writing into `dir`.
pub fn remove_orphaned_temp_files(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_temp_name(name) && entry.file_type()?.is_file() {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Whether `name` is one of our temp files: [`TEMP_PREFIX`]…, or what older versions of eirl
/// used: `tempfile`'s default `.tmp` + six alphanumerics, and `.plot-…png`.
fn is_temp_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
        || (name.starts_with(".plot-") && name.ends_with(".png"))
        || name
            .strip_prefix(".tmp")
            .is_some_and(|rest| rest.len() == 6 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The directory that holds `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes the rename itself durable (POSIX: a rename is on disk once its directory is synced).
/// File systems that cannot sync a directory (`EINVAL`) are let be. A no-op off Unix, where a
/// directory cannot be opened as a file.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    match fs::File::open(dir)?.sync_all() {
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {}
        other => return other,
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
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

    #[cfg(unix)]
    #[test]
    fn new_files_get_the_mode_of_file_create() -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir()?;
        let plain = dir.path().join("plain.txt");
        fs::File::create(&plain)?;
        let atomic = dir.path().join("atomic.txt");
        atomic_write(&atomic, b"x")?;
        let mode = |p: &Path| fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode(&atomic)?, mode(&plain)?);
        Ok(())
    }

    #[test]
    fn orphaned_temp_files_are_removed_and_nothing_else() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        for name in [
            ".eirl-tmp-a1B2c3",
            ".tmpAb12Cd",
            "metrics.csv",
            ".tmpnotours",
        ] {
            fs::write(dir.path().join(name), b"")?;
        }
        assert_eq!(remove_orphaned_temp_files(dir.path())?, 2);
        let mut left: Vec<_> = fs::read_dir(dir.path())?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        left.sort();
        assert_eq!(left, [".tmpnotours", "metrics.csv"]);
        Ok(())
    }
}
