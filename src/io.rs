//! File helpers every layer shares: atomic, fsynced writes of files and whole directories, the
//! check that an output may be written, and bounded reads of text and TOML.
//!
//! Atomic means a reader (or a process restarted after a crash) sees the old file or directory
//! or the complete new one, never a part: contents go to a temporary sibling
//! (`.mixatlas-tmp-PID-N`), are flushed to disk, and are renamed into place; on failure the
//! temporary is removed. Outputs never destroy data: see [`check_output`].

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::de::DeserializeOwned;

/// Why a file could not be read or written: what every reader and writer in this module
/// returns, and what each module's own error wraps (transparently) when it reads files.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The operating system refused a read or write.
    #[error("{path}: {cause}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error. Part of the message, not a `source()`, so that a
        /// report of the whole chain (`{:#}`) says it once.
        cause: std::io::Error,
    },
    /// An input file is not text.
    #[error(transparent)]
    Input(#[from] InputError),
    /// An output exists and may not be replaced.
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// `Result` with [`FileError`].
pub type Result<T, E = FileError> = std::result::Result<T, E>;

/// Attaches the path to an I/O error.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> FileError {
    let path = path.into();
    move |cause| FileError::Io { path, cause }
}

/// The file that marks a directory as written by mixatlas: only such a directory may be
/// replaced, and only when asked (`--force`).
pub const OUTPUT_MARKER: &str = ".mixatlas-output";

/// Why an output cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The output exists already and replacing it was not asked for.
    #[error("{path} exists already (pass --force to replace it)")]
    Exists {
        /// The file or directory.
        path: PathBuf,
    },
    /// The output is a directory mixatlas did not write.
    #[error(
        "{path} is a directory mixatlas did not write (it has no {OUTPUT_MARKER}): refusing to \
         replace it, even with --force; choose a new output path"
    )]
    NotOurs {
        /// The directory.
        path: PathBuf,
    },
    /// Writing the output would replace one of the command's inputs.
    #[error("{path} is, or contains, {input}, an input of this command: choose another output")]
    IsInput {
        /// The output.
        path: PathBuf,
        /// The input it would destroy.
        input: PathBuf,
    },
}

/// Why an input file cannot be read as text.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file is not UTF-8.
    #[error("{path}:{line}: not valid UTF-8 text")]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line of the first invalid byte.
        line: usize,
    },
}

/// Longest line any reader accepts, in bytes.
pub const MAX_LINE: usize = 16 << 20;
/// Largest text file read whole, in bytes (tables to score are streamed instead).
pub const MAX_TEXT: u64 = 2 << 30;

/// Reads the text file at `path`; bytes that are not UTF-8 are refused naming their line, a
/// line over [`MAX_LINE`] or a file over [`MAX_TEXT`] bytes as not a text file.
pub fn read_text(path: &Path) -> Result<String> {
    use std::io::Read;
    let file = File::open(path).map_err(io(path))?;
    let mut bytes = Vec::new();
    (LineLimit::new(file, MAX_LINE).take(MAX_TEXT + 1))
        .read_to_end(&mut bytes)
        .map_err(io(path))?;
    if bytes.len() as u64 > MAX_TEXT {
        let cause = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_TEXT} bytes"),
        );
        return Err(io(path)(cause));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
        InputError::NotUtf8 {
            path: path.to_owned(),
            line,
        }
        .into()
    })
}

/// Whether an existing output may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Refuse when the output exists.
    Refuse,
    /// Replace it (`--force`): a file, or a directory mixatlas wrote.
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

/// Checks that `path` may be written: it is none of `inputs` nor a directory holding one, and
/// if it exists, `overwrite` allows replacing it and, for a directory, mixatlas wrote it.
/// Call before long work so none is wasted.
pub fn check_output(path: &Path, overwrite: Overwrite, inputs: &[&Path]) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    check_not_input(path, inputs)?;
    if overwrite == Overwrite::Refuse {
        return Err(OutputError::Exists { path: path.into() }.into());
    }
    if path.is_dir() && !written_by_mixatlas(path) {
        return Err(OutputError::NotOurs { path: path.into() }.into());
    }
    Ok(())
}

/// Refuses an existing `path` that is one of `inputs` or a directory holding one.
pub fn check_not_input(path: &Path, inputs: &[&Path]) -> Result<()> {
    let out = std::fs::canonicalize(path).map_err(io(path))?;
    for input in inputs {
        if std::fs::canonicalize(input).is_ok_and(|i| i.starts_with(&out)) {
            return Err(OutputError::IsInput {
                path: path.to_owned(),
                input: input.to_path_buf(),
            }
            .into());
        }
    }
    Ok(())
}

/// Whether mixatlas wrote directory `dir`: it holds [`OUTPUT_MARKER`], or it is an output
/// written before the marker existed, recognised by the file that names it as mixatlas's (a
/// checkpoint manifest, proposals, a swarm, a strategy table or a report page).
fn written_by_mixatlas(dir: &Path) -> bool {
    if dir.join(OUTPUT_MARKER).is_file() {
        return true;
    }
    let signatures = [
        ("manifest.json", "\"mixatlas-surrogate\""),
        ("manifest.json", "\"mixatlas-predictor\""),
        ("gp.json", "\"mixatlas-gp\""),
        ("proposals.json", "\"proposals\""),
        ("swarm.csv", "run,"),
        ("strategies.md", "| strategy |"),
        ("report.html", "mixatlas report"),
    ];
    signatures
        .iter()
        .any(|(file, mark)| head_contains(&dir.join(file), mark))
}

/// Whether the first 64 KiB of `path` contain `mark` (false when it cannot be read): a
/// directory of large foreign files is not read whole to find out it is not ours.
fn head_contains(path: &Path, mark: &str) -> bool {
    use std::io::Read;
    let mut head = Vec::new();
    let read = File::open(path).and_then(|f| f.take(64 << 10).read_to_end(&mut head));
    read.is_ok() && String::from_utf8_lossy(&head).contains(mark)
}

/// Reads the TOML file at `path` into `T`; a parse error (with line and column) becomes the
/// caller's error through `parse_error(message)`.
pub fn read_toml<T, E>(path: &Path, parse_error: impl FnOnce(String) -> E) -> Result<T, E>
where
    T: DeserializeOwned,
    E: From<FileError>,
{
    let text = read_text(path)?;
    toml::from_str(&text).map_err(|e| parse_error(e.to_string()))
}

/// A fresh temporary sibling of `path` for an atomic write: `.mixatlas-tmp-PID-N`, short
/// whatever the length of the output's own name.
fn temporary_sibling(path: &Path) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // The clock tells apart processes that share a pid (PID 1 in every container run);
    // temporaries are created exclusively, so a clash is an error, never an overwrite.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32));
    path.with_file_name(format!(
        ".mixatlas-tmp-{}-{nanos:08x}-{n}",
        std::process::id()
    ))
}

/// Creates `path` with `bytes` and flushes it to disk.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(io(path))?;
    crash_point();
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// The environment variable that arms [`crash_point`]: `MIXATLAS_CRASH_AT=N` makes the process
/// kill itself (SIGKILL, as `kill -9` would) at its N-th write point.
pub const CRASH_AT_VAR: &str = "MIXATLAS_CRASH_AT";

/// A write point: between any two steps of a write that a crash could separate (a temporary
/// created, written, renamed; a journal line appended; an evaluator started). Does nothing
/// unless [`CRASH_AT_VAR`] is set; then the N-th call kills the process, so the crash tests
/// can stop a campaign at every write point in turn instead of at random times.
pub fn crash_point() {
    static ARMED: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    let Some(at) = *ARMED.get_or_init(|| std::env::var(CRASH_AT_VAR).ok()?.parse().ok()) else {
        return;
    };
    if SEEN.fetch_add(1, Ordering::SeqCst) + 1 == at {
        // SAFETY: raise(2) takes a plain integer; SIGKILL ends this process at once.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
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
/// new one. On failure the temporary file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes).map_err(io(path))?;
    file.commit()
}

/// A file written in pieces (streamed output) that appears at its path, whole, only on
/// [`AtomicFile::commit`]; dropped uncommitted, its temporary is removed and the path is
/// untouched.
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    file: std::io::BufWriter<File>,
    committed: bool,
}

impl AtomicFile {
    /// Starts writing `path` (through a temporary sibling).
    pub fn create(path: &Path) -> Result<Self> {
        let tmp = temporary_sibling(path);
        // Exclusively: never through a link planted at the name, never over another's file.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        Ok(AtomicFile {
            path: path.to_owned(),
            tmp,
            file: std::io::BufWriter::new(file),
            committed: false,
        })
    }

    /// Flushes to disk and renames the file into place.
    pub fn commit(mut self) -> Result<()> {
        self.file.flush().map_err(io(&self.tmp))?;
        self.file.get_ref().sync_all().map_err(io(&self.tmp))?;
        crash_point();
        std::fs::rename(&self.tmp, &self.path).map_err(io(&self.path))?;
        self.committed = true;
        crash_point();
        sync_parent(&self.path)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            // Ours, and incomplete; an error here leaves a stray temporary, never data.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Limits lines to `limit` bytes while reading: a file with no line breaks (`/dev/zero`, a
/// binary file) is an error after `limit` bytes instead of growing memory without end.
#[derive(Debug)]
pub struct LineLimit<R> {
    inner: R,
    since_newline: usize,
    limit: usize,
}

impl<R> LineLimit<R> {
    /// Wraps `inner`, refusing lines longer than `limit` bytes.
    pub fn new(inner: R, limit: usize) -> Self {
        LineLimit {
            inner,
            since_newline: 0,
            limit,
        }
    }
}

impl<R: std::io::Read> std::io::Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            self.since_newline = if b == b'\n' {
                0
            } else {
                self.since_newline + 1
            };
            if self.since_newline > self.limit {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "a line is longer than {} bytes (not a text table?)",
                        self.limit
                    ),
                ));
            }
        }
        Ok(n)
    }
}

/// Writes `files` (relative path, contents) as directory `dir`, all at once, with the
/// [`OUTPUT_MARKER`]: into a temporary sibling, every file fsynced, then renamed into place.
/// [`check_output`] decides whether an existing `dir` may be replaced. On failure the
/// temporary directory is removed and `dir` is as it was.
pub fn write_dir_atomic(
    dir: &Path,
    overwrite: Overwrite,
    inputs: &[&Path],
    files: &[(String, Vec<u8>)],
) -> Result<()> {
    check_output(dir, overwrite, inputs)?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let tmp = temporary_sibling(dir);
    build_dir(&tmp, files)?;
    crash_point();
    // The old directory is moved aside whole (one rename) before the new one takes its place,
    // so a crash at any point leaves the old output or the new one at `dir`, or (between the
    // two renames) the old one complete in a hidden sibling: never a half-deleted directory.
    let old = dir.exists().then(|| temporary_sibling(dir));
    if let Some(old) = &old {
        std::fs::rename(dir, old).map_err(io(dir))?;
        crash_point();
    }
    std::fs::rename(&tmp, dir).map_err(io(dir))?;
    crash_point();
    sync_parent(dir)?;
    if let Some(old) = old {
        remove_any(&old)?;
    }
    Ok(())
}

/// Removes `dir` (or a file), which mixatlas owns: first renamed to a hidden temporary
/// sibling, so a crash while removing leaves no partial directory at `dir` (only a stray
/// temporary).
pub fn remove_dir_aside(dir: &Path) -> Result<()> {
    let aside = temporary_sibling(dir);
    std::fs::rename(dir, &aside).map_err(io(dir))?;
    crash_point();
    remove_any(&aside)
}

/// Removes `path`, a directory (whole) or a file.
fn remove_any(path: &Path) -> Result<()> {
    if path.is_dir() {
        std::fs::remove_dir_all(path).map_err(io(path))
    } else {
        std::fs::remove_file(path).map_err(io(path))
    }
}

/// Creates directory `dir`, which must be missing or empty, holding `files` (which should
/// include an [`OUTPUT_MARKER`]) all at once: built in a temporary sibling, then renamed over
/// the missing or empty `dir`. A crash leaves `dir` as it was or whole.
pub fn create_dir_atomic(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let tmp = temporary_sibling(dir);
    build_dir(&tmp, files)?;
    crash_point();
    if let Err(e) = std::fs::rename(&tmp, dir) {
        // Ours, and useless now; the rename's own error is the one to report.
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(io(dir)(e));
    }
    crash_point();
    sync_parent(dir)
}

/// Creates directory `tmp` (which must not exist: nothing of anyone else's is touched) and
/// fills it; on failure removes what it created.
fn build_dir(tmp: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    std::fs::create_dir(tmp).map_err(io(tmp))?;
    let filled = fill(tmp, files);
    if filled.is_err() {
        // Ours, and useless now; the write's own error is the one to report.
        let _ = std::fs::remove_dir_all(tmp);
    }
    filled
}

/// Fills the new directory `tmp` with `files` and the marker (unless `files` has one), each
/// fsynced.
fn fill(tmp: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    let marked = files.iter().any(|f| f.0 == OUTPUT_MARKER);
    let marker = (OUTPUT_MARKER.to_owned(), b"written by mixatlas\n".to_vec());
    for (rel, bytes) in files.iter().chain((!marked).then_some(&marker)) {
        let path = tmp.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        write_synced(&path, bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_replaced_only_when_asked() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let files = vec![("a/b.txt".to_owned(), b"one".to_vec())];
        write_dir_atomic(&dir, Overwrite::Refuse, &[], &files).unwrap();
        assert_eq!(std::fs::read(dir.join("a/b.txt")).unwrap(), b"one");
        let again = vec![("c.txt".to_owned(), b"two".to_vec())];
        let err = write_dir_atomic(&dir, Overwrite::Refuse, &[], &again).unwrap_err();
        assert!(err.to_string().contains("exists already"), "{err}");
        assert!(
            dir.join("a/b.txt").exists(),
            "a refused write leaves the old directory"
        );
        write_dir_atomic(&dir, Overwrite::Replace, &[], &again).unwrap();
        assert!(!dir.join("a").exists() && dir.join("c.txt").exists());
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("out")]);
    }

    #[test]
    fn force_never_replaces_what_mixatlas_did_not_write_or_an_input() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("runs.csv"), "a\n").unwrap();
        let files = vec![("x".to_owned(), b"x".to_vec())];
        let err = write_dir_atomic(&data, Overwrite::Replace, &[], &files).unwrap_err();
        assert!(err.to_string().contains("mixatlas did not write"), "{err}");
        assert!(data.join("runs.csv").exists());
        let out = tmp.path().join("out");
        write_dir_atomic(&out, Overwrite::Refuse, &[], &files).unwrap();
        let input = out.join("x");
        let err = write_dir_atomic(&out, Overwrite::Replace, &[&input], &files).unwrap_err();
        assert!(
            err.to_string().contains("an input of this command"),
            "{err}"
        );
        let err = check_output(tmp.path(), Overwrite::Replace, &[&data]).unwrap_err();
        assert!(err.to_string().contains("an input"), "{err}");
        // A failed write leaves no temporary behind: a file where a directory must go.
        let bad = vec![
            ("x".to_owned(), b"x".to_vec()),
            ("x/y".to_owned(), b"y".to_vec()),
        ];
        assert!(write_dir_atomic(&tmp.path().join("new"), Overwrite::Refuse, &[], &bad).is_err());
        let names: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains("tmp")), "{names:?}");
        // Outputs of mixatlas versions before the marker are recognised by their files.
        let old = tmp.path().join("old-proposals");
        std::fs::create_dir(&old).unwrap();
        std::fs::write(old.join("proposals.json"), "{\"proposals\": []}").unwrap();
        write_dir_atomic(&old, Overwrite::Replace, &[], &files).unwrap();
        assert!(old.join(OUTPUT_MARKER).is_file());
        // A long output name still fits: the temporary name does not grow with it.
        let long = tmp.path().join("o".repeat(250));
        write_dir_atomic(&long, Overwrite::Refuse, &[], &files).unwrap();
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
