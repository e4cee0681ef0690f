//! The evaluator contract: how a campaign hands proposals to whatever trains and measures
//! them, and how results come back.
//!
//! The campaign runs `evaluator` (a shell command) once per batch with `{proposals}` and
//! `{results}` replaced by file paths. The command reads the proposals and writes the results;
//! a zero exit status means it is done.
//!
//! **Proposals** (JSON Lines, one run per line):
//!
//! ```json
//! {"run_id": "r002-05", "stage": 0, "tokens": 1.0,
//!  "weights": {"people/captioning": 0.02, "people/ocr": 0.01, ...},
//!  "history": [{"weights": {...}, "tokens": 1.0}],
//!  "context": {"stage": 0.0, "signal:doc_reasoning": 0.7}}
//! ```
//!
//! `weights` is the mixture to train on (sums to 1); `history` the mixtures already committed
//! for earlier stages, in order (start the run from the checkpoint they produced); `context`
//! the predictor inputs the run was proposed under.
//!
//! **Results** (CSV with a header): `run_id`, one column per target named as in the campaign,
//! and, when the campaign lists signals, `signal:<name>` columns (e.g. the per-task
//! uncertainty of the trained model). Extra columns are ignored. Every proposed run must appear
//! once; runs that are missing are asked for again on the next `--resume`, and results that
//! did arrive are kept.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::CampaignError;
use super::journal::RunResult;
use crate::error::io;
use crate::runs::csv_line;

/// Something that turns a proposals file into a results file.
pub trait Evaluator {
    /// Evaluates the runs in `proposals`, writing `results`; `log` receives its output.
    fn evaluate(&mut self, proposals: &Path, results: &Path, log: &Path) -> crate::Result<()>;
}

/// Runs a shell command per batch, killing it (and its children) after `timeout`.
#[derive(Debug, Clone)]
pub struct CommandEvaluator {
    /// The command template with `{proposals}`, `{results}` and `{mixatlas}`.
    pub template: String,
    /// Directory the command runs in; `None`: this process's.
    pub dir: Option<PathBuf>,
    /// Wall-clock limit per batch.
    pub timeout: Duration,
    /// The campaign lock's descriptor ([`super::Campaign::lock_fd`]), inherited by the command
    /// so that the campaign stays locked while it runs, even after `loop` is killed.
    pub lock: Option<std::os::fd::RawFd>,
}

/// Sends SIGKILL to process group `pgid` (the shell and whatever it started).
///
/// Through libc, not the `kill` program: procps-ng 4.0's `kill -KILL -PGID` signalled every
/// process on the machine here, not the group.
fn kill_group(pgid: u32) {
    let pgid = i32::try_from(pgid).expect("process ids fit in i32");
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill(2) takes plain integers; a negative pid addresses exactly that group.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Waits (up to 5 s) until process group `pgid`, killed and its leader reaped, has no process
/// left: the group holds the campaign lock until then, and the next command would find the
/// campaign in use.
fn await_group_gone(pgid: u32) {
    let Ok(pgid) = i32::try_from(pgid) else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    // SAFETY: as above; signal 0 only asks whether the group still has a process.
    while unsafe { libc::kill(-pgid, 0) } == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs the evaluator command (`$1`) and records its exit status in `$2` (atomically: written
/// to `$2.tmp`, then renamed). The record outlives the campaign process: an evaluator that
/// finishes after `loop` was killed leaves its results and its status, and the resumed
/// campaign ingests them instead of training those runs again.
const RECORD_EXIT: &str =
    r#"sh -c "$1"; s=$?; printf '%s\n' "$s" > "$2.tmp" && mv -f "$2.tmp" "$2"; exit $s"#;

/// Where [`CommandEvaluator`] records the exit status of the evaluation writing `results`.
pub(super) fn status_path(results: &Path) -> PathBuf {
    let mut name = results.as_os_str().to_owned();
    name.push(".status");
    PathBuf::from(name)
}

/// Whether an evaluation writing `results` finished successfully: it recorded exit status 0
/// and left its results file.
pub(super) fn finished(results: &Path) -> bool {
    results.is_file()
        && std::fs::read_to_string(status_path(results)).is_ok_and(|s| s.trim() == "0")
}

/// Single-quotes `s` for `sh`.
pub(super) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `template` with `{mixatlas}` replaced by this binary's path (quoted for the shell).
pub(super) fn with_binary(template: &str) -> crate::Result<String> {
    if !template.contains("{mixatlas}") {
        return Ok(template.to_owned());
    }
    let exe = std::env::current_exe().map_err(io(PathBuf::from("{mixatlas}")))?;
    Ok(template.replace("{mixatlas}", &quote(&exe.to_string_lossy())))
}

/// `path` made absolute, so that a command run in another directory finds it.
pub(super) fn absolute(path: &Path) -> crate::Result<PathBuf> {
    std::path::absolute(path).map_err(io(path))
}

/// `dir`, the directory an evaluator runs in, when it is one; an error naming it otherwise.
pub(super) fn working_dir(dir: &Path) -> crate::Result<&Path> {
    if dir.is_dir() {
        return Ok(dir);
    }
    Err(CampaignError::Directory {
        path: dir.to_owned(),
        problem: "the evaluator's working directory (`evaluator_dir`, default: the campaign \
                  config's directory) does not exist or is not a directory",
    }
    .into())
}

impl Evaluator for CommandEvaluator {
    fn evaluate(&mut self, proposals: &Path, results: &Path, log: &Path) -> crate::Result<()> {
        use std::os::unix::process::CommandExt;
        let command_line = with_binary(&self.template)?
            .replace(
                "{proposals}",
                &quote(&absolute(proposals)?.to_string_lossy()),
            )
            .replace("{results}", &quote(&absolute(results)?.to_string_lossy()));
        let out = std::fs::File::create(log).map_err(io(log))?;
        let err = out.try_clone().map_err(io(log))?;
        let status_file = status_path(results);
        let mut command = Command::new("sh");
        command
            .args(["-c", RECORD_EXIT, "sh", &command_line])
            .arg(&status_file)
            // The crash hook stops this process, not the evaluator's own mixatlas commands.
            .env_remove(crate::io::CRASH_AT_VAR)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        if let Some(dir) = &self.dir {
            command.current_dir(working_dir(dir)?);
        }
        if let Some(fd) = self.lock {
            // SAFETY: fcntl(2) is async-signal-safe and touches only this child's table.
            unsafe {
                command.pre_exec(move || {
                    if libc::fcntl(fd, libc::F_SETFD, 0) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = command.spawn().map_err(io(PathBuf::from("sh")))?;
        crate::io::crash_point();
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().map_err(io(PathBuf::from("sh")))? {
                break status;
            }
            if start.elapsed() > self.timeout {
                kill_group(child.id());
                child.wait().map_err(io(PathBuf::from("sh")))?;
                await_group_gone(child.id());
                return Err(CampaignError::EvaluatorTimeout {
                    command: command_line,
                    seconds: self.timeout.as_secs_f64(),
                    log: log.to_owned(),
                }
                .into());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Background processes the evaluator left behind belong to this batch; end them so
        // none outlives it (they would write into the next round's files).
        kill_group(child.id());
        await_group_gone(child.id());
        if !status.success() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            use std::os::unix::process::ExitStatusExt;
            let status = match (status.code(), status.signal()) {
                // The recording shell reports a command killed by signal N as 128 + N.
                (Some(code), _) if code > 128 => {
                    format!("exit status {code}: killed by signal {}", code - 128)
                }
                (Some(code), _) => format!("exit status {code}"),
                (None, Some(signal)) => format!("killed by signal {signal}"),
                (None, None) => status.to_string(),
            };
            return Err(CampaignError::EvaluatorFailed {
                command: command_line,
                status,
                tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
                log: log.to_owned(),
            }
            .into());
        }
        if !results.exists() {
            return Err(CampaignError::NoResults {
                path: results.to_owned(),
            }
            .into());
        }
        Ok(())
    }
}

/// Reads a results file for the runs `expected` (ids): the results found and the ids
/// missing. Rows of the runs in `skip` (already measured) are passed over; other unknown or
/// repeated ids and malformed cells are errors naming file, line and column.
pub fn read_results(
    path: &Path,
    targets: &[String],
    signals: &[String],
    expected: &[String],
    skip: &[String],
) -> crate::Result<(Vec<RunResult>, Vec<String>)> {
    let bad = |line: usize, column: &str, problem: String| CampaignError::Results {
        path: path.to_owned(),
        line,
        column: column.to_owned(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(io(path))?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(&bytes[..]);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| bad(1, "", e.to_string()))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let find = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| bad(1, name, "missing column".into()))
    };
    let id_col = find("run_id")?;
    let target_cols: Vec<usize> = targets.iter().map(|t| find(t)).collect::<Result<_, _>>()?;
    let signal_cols: Vec<usize> = signals
        .iter()
        .map(|s| find(&format!("signal:{s}")))
        .collect::<Result<_, _>>()?;
    let mut found: Vec<RunResult> = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| bad(i + 2, "", e.to_string()))?;
        let line = record
            .position()
            .map_or(i + 2, |p| csv_line(&bytes, p) as usize);
        let id = record.get(id_col).unwrap_or("").trim().to_owned();
        if skip.contains(&id) {
            continue;
        }
        if !expected.contains(&id) {
            return Err(bad(
                line,
                "run_id",
                format!("`{id}` is not a run awaiting results"),
            )
            .into());
        }
        if found.iter().any(|r| r.id == id) {
            return Err(bad(line, "run_id", format!("`{id}` appears twice")).into());
        }
        let number = |col: usize, name: &str| -> Result<f64, CampaignError> {
            let cell = record.get(col).unwrap_or("").trim();
            match cell.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(bad(line, name, format!("`{cell}` is not a finite number"))),
            }
        };
        let outcomes = target_cols
            .iter()
            .zip(targets)
            .map(|(&c, t)| number(c, t))
            .collect::<Result<_, _>>()?;
        let signals = signal_cols
            .iter()
            .zip(signals)
            .map(|(&c, s)| number(c, &format!("signal:{s}")))
            .collect::<Result<_, _>>()?;
        found.push(RunResult {
            id,
            outcomes,
            signals,
        });
    }
    let missing = expected
        .iter()
        .filter(|id| !found.iter().any(|r| &r.id == *id))
        .cloned()
        .collect();
    Ok((found, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_errors_name_the_line_the_record_is_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(&path, "run_id,y\nr1,1.0\n\nr2,oops\n").unwrap();
        let ids = ["r1".to_owned(), "r2".to_owned()];
        let err = read_results(&path, &["y".into()], &[], &ids, &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("r.csv:4: column `y`"),
            "a blank line is not skipped over: {err}"
        );
    }
}
