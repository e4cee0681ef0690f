//! File helpers every layer shares: atomic, fsynced writes of files and whole directories, the
//! check that an output may be written, and reading a TOML configuration.
//!
//! Atomic means a reader (or a process restarted after a crash) sees the old file or directory
//! or the complete new one, never a part: contents go to a temporary sibling
//! (`.NAME.tmp-PID`), are flushed to disk, and are renamed into place.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::error::{Error, Result, io};

/// Why an output cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The output exists already and replacing it was not asked for.
    #[error("{path} exists already (pass --force to replace it)")]
    Exists {
        /// The file or directory.
        path: PathBuf,
    },
}

/// Whether an existing output may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Refuse when the output exists.
    Refuse,
    /// Replace it (`--force`).
    Replace,
}

impl Overwrite {
    /// `Replace` when `force` is set.
    pub fn from_force(force: bool) -> Self {
        if force {
            Overwrite::Replace
        } else {
            Overwrite::Refuse
        }
    }
}

/// Refuses an existing output unless `overwrite` allows it; call before long work so none is
/// wasted.
pub fn check_output(path: &Path, overwrite: Overwrite) -> Result<()> {
    if path.exists() && overwrite == Overwrite::Refuse {
        return Err(OutputError::Exists { path: path.into() }.into());
    }
    Ok(())
}

/// Reads the TOML file at `path` into `T`; a parse error (with line and column) becomes the
/// caller's error through `parse_error(message)`.
pub fn read_toml<T, E>(path: &Path, parse_error: impl FnOnce(String) -> E) -> Result<T>
where
    T: DeserializeOwned,
    E: Into<Error>,
{
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    toml::from_str(&text).map_err(|e| parse_error(e.to_string()).into())
}

/// The temporary sibling of `path` that atomic writes go through.
fn temporary_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or("output".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Creates `path` with `bytes` and flushes it to disk.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Flushes the directory entry of `path` (its parent's listing) so a rename survives a crash.
fn sync_parent(path: &Path) -> Result<()> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(io(parent))
}

/// Writes `bytes` to `path` atomically and durably: a reader sees the old file or the whole
/// new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temporary_sibling(path);
    write_synced(&tmp, bytes)?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    sync_parent(path)
}

/// Writes `files` (relative path, contents) as directory `dir`, all at once: into a temporary
/// sibling, every file fsynced, then renamed into place. An existing `dir` is replaced only
/// when `overwrite` allows it.
pub fn write_dir_atomic(
    dir: &Path,
    overwrite: Overwrite,
    files: &[(String, Vec<u8>)],
) -> Result<()> {
    check_output(dir, overwrite)?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let tmp = temporary_sibling(dir);
    if tmp.exists() {
        // Left by an earlier process with our pid that died mid-write: ours to remove.
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir(&tmp).map_err(io(&tmp))?;
    for (rel, bytes) in files {
        let path = tmp.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        write_synced(&path, bytes)?;
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::rename(&tmp, dir).map_err(io(dir))?;
    sync_parent(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_replaced_only_when_asked() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let files = vec![("a/b.txt".to_owned(), b"one".to_vec())];
        write_dir_atomic(&dir, Overwrite::Refuse, &files).unwrap();
        assert_eq!(std::fs::read(dir.join("a/b.txt")).unwrap(), b"one");
        let again = vec![("c.txt".to_owned(), b"two".to_vec())];
        let err = write_dir_atomic(&dir, Overwrite::Refuse, &again).unwrap_err();
        assert!(err.to_string().contains("exists already"), "{err}");
        assert!(
            dir.join("a/b.txt").exists(),
            "a refused write leaves the old directory"
        );
        write_dir_atomic(&dir, Overwrite::Replace, &again).unwrap();
        assert!(!dir.join("a").exists() && dir.join("c.txt").exists());
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("out")]);
    }

    #[test]
    fn files_are_replaced_whole_and_toml_errors_name_the_line() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.toml");
        write_atomic(&path, b"a = 1\n").unwrap();
        write_atomic(&path, b"a = \n").unwrap();
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct X {
            a: i64,
        }
        let err = read_toml::<X, _>(&path, |message| crate::space::SpaceError::Parse {
            path: path.clone(),
            message,
        })
        .unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
