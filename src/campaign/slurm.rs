//! Proxy runs on Slurm: one job array per batch, one array task per run.
//!
//! With a `[slurm]` table in the campaign config, the campaign's `evaluator` command is run once
//! per *run*, inside an array task, with `{proposals}` a file holding that run's proposal line
//! and `{results}` the file its results row goes to: the same contract as a per-batch evaluator
//! (see [`super::evaluator`]), so one command serves both. For a batch, the evaluator
//!
//! 1. writes a submission directory `rounds/NNN/slurm/<name>/` with `task-<i>.jsonl` (the
//!    i-th run's proposal line) and `job.sh`, which runs the command for task
//!    `$SLURM_ARRAY_TASK_ID` and renames `task-<i>.csv.part` to `task-<i>.csv` only when the
//!    command succeeded (a result file is complete or absent);
//! 2. journals `submitting` (the job name, unique per submission, and its runs) in
//!    `rounds/NNN/slurm.jsonl`, runs `sbatch --parsable --array=0-<n-1> --job-name=<name>`, and
//!    journals `submitted` with the job id *before* waiting;
//! 3. polls `squeue --name=<name>` until the array has left the queue (no `sacct`: accounting is
//!    often off, and the per-run result files are the truth), `scancel`s it when
//!    `evaluator_timeout` runs out, and merges the task result files into the batch's results.
//!
//! On `--resume` (after a crash, `kill -9` included, or a timeout) the journal of submissions is
//! read back: a run whose result file exists is not run again; a run whose array is still queued
//! or running (found by its unique job name, so even a crash between `sbatch` and the
//! `submitted` line is covered) is waited for, not resubmitted; only runs with neither are
//! submitted again, in a new array. Each run is therefore trained once unless its task failed.
//!
//! Array tasks start in the campaign config's directory (its `evaluator_dir`; the directory
//! `mixatlas loop` runs in when the command was given with `--evaluator`), write their output
//! to `task-<i>.out` beside their inputs, and see the environment sbatch passes (by default
//! all of it). `sbatch_args` adds site options (`--partition`, `--time`, `--gres=gpu:1`, ...).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::CampaignError;
use super::evaluator::quote;
use super::journal::Journal;
use crate::error::io;
use crate::io::write_atomic;

/// The `[slurm]` table of a campaign config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmConfig {
    /// Extra `sbatch` options, e.g. `["--partition=gpu", "--time=02:00:00", "--gres=gpu:1"]`.
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// Seconds between `squeue` polls.
    #[serde(default = "default_poll")]
    pub poll_seconds: f64,
    /// Most array tasks of one batch running at once (`--array=0-N%max`); unlimited if unset.
    #[serde(default)]
    pub max_parallel: Option<usize>,
}

fn default_poll() -> f64 {
    10.0
}

impl Default for SlurmConfig {
    fn default() -> Self {
        SlurmConfig {
            sbatch_args: Vec::new(),
            poll_seconds: default_poll(),
            max_parallel: None,
        }
    }
}

impl SlurmConfig {
    /// Checks the ranges: a positive poll interval, a positive `max_parallel`.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.poll_seconds.is_finite() && self.poll_seconds > 0.0 && self.poll_seconds < 1e6) {
            return Err(format!(
                "`slurm.poll_seconds` = {} must be positive and finite",
                self.poll_seconds
            ));
        }
        if self.max_parallel == Some(0) {
            return Err("`slurm.max_parallel` must be at least 1".into());
        }
        Ok(())
    }
}

/// A line of `rounds/NNN/slurm.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum SlurmEvent {
    /// About to call `sbatch` for these runs (task i = `runs[i]`) under job name `name`, with
    /// inputs in `slurm/<name>/`.
    Submitting { name: String, runs: Vec<String> },
    /// `sbatch` accepted the array.
    Submitted { name: String, job_id: String },
}

/// One array: its job name (unique), job id once known, and runs by task index.
#[derive(Debug, Clone)]
struct Submission {
    name: String,
    job_id: Option<String>,
    runs: Vec<String>,
    dir: PathBuf,
}

impl Submission {
    /// The result file of `run`, when this array has it and the task wrote it.
    fn result(&self, run: &str) -> Option<PathBuf> {
        let i = self.runs.iter().position(|r| r == run)?;
        Some(self.dir.join(format!("task-{i}.csv"))).filter(|p| p.exists())
    }
}

/// Runs each batch as a Slurm job array of the per-run `template`; see the module docs.
#[derive(Debug, Clone)]
pub struct SlurmEvaluator {
    /// The per-run command, with `{proposals}`, `{results}` and `{mixatlas}`.
    pub template: String,
    /// Directory the jobs run in (`sbatch --chdir`); `None`: this process's.
    pub dir: Option<PathBuf>,
    /// The `[slurm]` settings.
    pub config: SlurmConfig,
    /// Wall-clock limit per batch, queueing included, counted from this process's first look.
    pub timeout: Duration,
}

/// Runs a Slurm client command, returning its stdout; a missing program or a failure is an
/// error naming the command and what it printed.
fn slurm(program: &str, args: &[String]) -> Result<String, CampaignError> {
    let command = std::iter::once(program.to_owned())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new(program).args(args).output().map_err(|e| {
        let problem = if e.kind() == std::io::ErrorKind::NotFound {
            format!("`{program}` is not on PATH (is this a Slurm submit host?)")
        } else {
            e.to_string()
        };
        CampaignError::Slurm {
            command: command.clone(),
            problem,
        }
    })?;
    if !out.status.success() {
        return Err(CampaignError::Slurm {
            command,
            problem: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether jobs named `name` are queued or running, with their job id (`123` of `123_[0-3]`).
fn queued(name: &str) -> Result<Option<String>, CampaignError> {
    let out = slurm(
        "squeue",
        &[
            "-h".into(),
            "-o".into(),
            "%i".into(),
            format!("--name={name}"),
        ],
    )?;
    Ok(out
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.split('_').next().unwrap_or(l).to_owned()))
}

/// A job name no other submission has: the campaign directory, round, submission count and
/// the clock, hashed.
fn job_name(round_dir: &Path, submissions: usize) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(round_dir.as_os_str().as_encoded_bytes());
    h.update(submissions.to_le_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.update(now.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    let digest = h.finalize();
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("mixatlas-{hex}")
}

/// The array's batch script: the per-run command for task `$SLURM_ARRAY_TASK_ID`.
fn job_script(template: &str, dir: &Path) -> String {
    let command = template
        .replace("{proposals}", "\"$dir/task-$i.jsonl\"")
        .replace("{results}", "\"$dir/task-$i.csv.part\"");
    format!(
        "#!/bin/sh\n# Written by mixatlas: one proxy run per array task.\n\
         i=\"$SLURM_ARRAY_TASK_ID\"\ndir={dir}\nrm -f \"$dir/task-$i.csv.part\"\n{command}\n\
         status=$?\nif [ \"$status\" -eq 0 ] && [ -f \"$dir/task-$i.csv.part\" ]; then\n  \
         mv \"$dir/task-$i.csv.part\" \"$dir/task-$i.csv\"\nfi\nexit \"$status\"\n",
        dir = quote(&dir.to_string_lossy())
    )
}

/// `(run id, proposal line)` of every line of a proposals file.
fn proposal_lines(path: &Path) -> crate::Result<Vec<(String, String)>> {
    let text = crate::io::read_text(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|l| !l.1.trim().is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| CampaignError::Results {
                path: path.to_owned(),
                line: i + 1,
                column: "run_id".into(),
                problem: e.to_string(),
            })?;
        let Some(id) = value.get("run_id").and_then(|v| v.as_str()) else {
            return Err(CampaignError::Results {
                path: path.to_owned(),
                line: i + 1,
                column: "run_id".into(),
                problem: "missing".into(),
            }
            .into());
        };
        out.push((id.to_owned(), line.to_owned()));
    }
    Ok(out)
}

/// Merges per-run results files into one CSV with the first file's header; a later file's
/// columns are matched by name (a column it lacks is left empty, for `read_results` to name).
fn merge_results(files: &[PathBuf]) -> crate::Result<Vec<u8>> {
    let mut header: Option<csv::StringRecord> = None;
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_error = |path: &Path, e: csv::Error| CampaignError::Results {
        path: path.to_owned(),
        line: e.position().map_or(1, |p| p.line() as usize),
        column: String::new(),
        problem: e.to_string(),
    };
    for path in files {
        let bytes = std::fs::read(path).map_err(io(path))?;
        let mut reader = csv::Reader::from_reader(&bytes[..]);
        let own = reader.headers().map_err(|e| csv_error(path, e))?.clone();
        if header.is_none() {
            out.write_record(&own).expect("writes to memory");
        }
        let first = header.get_or_insert_with(|| own.clone()).clone();
        let columns: Vec<Option<usize>> = first
            .iter()
            .map(|h| own.iter().position(|o| o.trim() == h.trim()))
            .collect();
        for record in reader.records() {
            let record = record.map_err(|e| csv_error(path, e))?;
            let row: Vec<&str> = columns
                .iter()
                .map(|c| c.and_then(|c| record.get(c)).unwrap_or(""))
                .collect();
            out.write_record(&row).expect("writes to memory");
        }
    }
    Ok(out.into_inner().expect("writes to memory"))
}

impl SlurmEvaluator {
    /// Submits `runs` (`(id, proposal line)`) as one array, journaling it before `sbatch` and
    /// its job id after.
    fn submit(
        &self,
        journal: &mut Journal<SlurmEvent>,
        round_dir: &Path,
        count: usize,
        runs: &[(String, String)],
        log: &mut std::fs::File,
    ) -> crate::Result<Submission> {
        let name = job_name(round_dir, count);
        let dir = super::evaluator::absolute(&round_dir.join("slurm").join(&name))?;
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        for (i, (_, line)) in runs.iter().enumerate() {
            write_atomic(
                &dir.join(format!("task-{i}.jsonl")),
                format!("{line}\n").as_bytes(),
            )?;
        }
        let script = dir.join("job.sh");
        let template = super::evaluator::with_binary(&self.template)?;
        write_atomic(&script, job_script(&template, &dir).as_bytes())?;
        let ids: Vec<String> = runs.iter().map(|r| r.0.clone()).collect();
        journal.append(&SlurmEvent::Submitting {
            name: name.clone(),
            runs: ids.clone(),
        })?;
        let cwd = match &self.dir {
            Some(dir) => super::evaluator::working_dir(dir)?.to_owned(),
            None => std::env::current_dir().map_err(io(Path::new(".")))?,
        };
        let mut array = format!("0-{}", runs.len() - 1);
        if let Some(max) = self.config.max_parallel {
            array.push_str(&format!("%{max}"));
        }
        let mut args = vec![
            "--parsable".to_owned(),
            format!("--array={array}"),
            format!("--job-name={name}"),
            // sbatch expands `%` in --output; the directory's own are escaped.
            format!(
                "--output={}/task-%a.out",
                dir.to_string_lossy().replace('%', "%%")
            ),
            format!("--chdir={}", cwd.display()),
        ];
        args.extend(self.config.sbatch_args.iter().cloned());
        args.push(script.to_string_lossy().into_owned());
        let out = slurm("sbatch", &args)?;
        let job_id = out
            .trim()
            .split(';')
            .next()
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| CampaignError::Slurm {
                command: format!("sbatch {}", args.join(" ")),
                problem: format!("expected a job id from --parsable, got {:?}", out.trim()),
            })?
            .to_owned();
        journal.append(&SlurmEvent::Submitted {
            name: name.clone(),
            job_id: job_id.clone(),
        })?;
        let _ = writeln!(
            log,
            "submitted job {job_id} ({name}): {} run(s), tasks 0-{}: {}",
            ids.len(),
            ids.len() - 1,
            ids.join(" ")
        );
        Ok(Submission {
            name,
            job_id: Some(job_id),
            runs: ids,
            dir,
        })
    }
}

/// The arrays journaled in `record` (a round's `slurm.jsonl`), oldest first.
fn submissions(
    record: &Path,
    round_dir: &Path,
    events: Vec<(usize, SlurmEvent)>,
) -> crate::Result<Vec<Submission>> {
    let mut out: Vec<Submission> = Vec::new();
    for (line, event) in events {
        match event {
            SlurmEvent::Submitting { name, runs } => out.push(Submission {
                dir: round_dir.join("slurm").join(&name),
                name,
                job_id: None,
                runs,
            }),
            SlurmEvent::Submitted { name, job_id } => {
                let s = out.iter_mut().find(|s| s.name == name).ok_or_else(|| {
                    CampaignError::Journal {
                        path: record.to_owned(),
                        line,
                        message: format!("job `{name}` submitted but never announced"),
                    }
                })?;
                s.job_id = Some(job_id);
            }
        }
    }
    Ok(out)
}

impl SlurmEvaluator {
    /// Polls until the arrays `active` (indices into `subs`) have left the queue; past the
    /// timeout, cancels them and fails.
    fn wait(
        &self,
        subs: &[Submission],
        mut active: Vec<usize>,
        log_file: &mut std::fs::File,
        log: &Path,
    ) -> crate::Result<()> {
        let start = Instant::now();
        loop {
            let mut still = Vec::new();
            for k in active {
                let s = &subs[k];
                if queued(&s.name)?.is_some() {
                    still.push(k);
                } else {
                    let id = s.job_id.as_deref().unwrap_or("?");
                    let _ = writeln!(log_file, "job {id} ({}) left the queue", s.name);
                }
            }
            active = still;
            if active.is_empty() {
                return Ok(());
            }
            if start.elapsed() > self.timeout {
                for &k in &active {
                    let s = &subs[k];
                    let target = match &s.job_id {
                        Some(id) => id.clone(),
                        None => format!("--name={}", s.name),
                    };
                    slurm("scancel", &[target])?;
                    let _ = writeln!(log_file, "cancelled job {} after the timeout", s.name);
                }
                return Err(CampaignError::EvaluatorTimeout {
                    command: format!("slurm array of `{}`", self.template),
                    seconds: self.timeout.as_secs_f64(),
                    log: log.to_owned(),
                }
                .into());
            }
            std::thread::sleep(Duration::from_secs_f64(self.config.poll_seconds));
        }
    }
}

impl super::Evaluator for SlurmEvaluator {
    fn evaluate(&mut self, proposals: &Path, results: &Path, log: &Path) -> crate::Result<()> {
        let round_dir = proposals.parent().unwrap_or(Path::new("."));
        let mut log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(io(log))?;
        let pending = proposal_lines(proposals)?;
        let record = round_dir.join("slurm.jsonl");
        let (mut journal, events) = Journal::<SlurmEvent>::open(&record)?;
        let mut subs = submissions(&record, round_dir, events)?;
        let has_result =
            |subs: &[Submission], run: &str| subs.iter().any(|s| s.result(run).is_some());

        // Re-attach to earlier arrays still queued or running that hold runs without results.
        let mut active: Vec<usize> = Vec::new();
        for (k, s) in subs.iter_mut().enumerate() {
            let waiting =
                (pending.iter()).any(|(id, _)| s.runs.contains(id) && s.result(id).is_none());
            let Some(job_id) = waiting.then(|| queued(&s.name)).transpose()?.flatten() else {
                continue;
            };
            let _ = writeln!(
                log_file,
                "re-attached to job {job_id} ({}), still queued or running",
                s.name
            );
            if s.job_id.is_none() {
                // A crash came between sbatch and the `submitted` line.
                journal.append(&SlurmEvent::Submitted {
                    name: s.name.clone(),
                    job_id: job_id.clone(),
                })?;
                s.job_id = Some(job_id);
            }
            active.push(k);
        }
        // Submit what has neither a result nor a live task.
        let to_submit: Vec<(String, String)> = (pending.iter())
            .filter(|(id, _)| {
                !has_result(&subs, id) && !active.iter().any(|&k| subs[k].runs.contains(id))
            })
            .cloned()
            .collect();
        if !to_submit.is_empty() {
            let s = self.submit(
                &mut journal,
                round_dir,
                subs.len(),
                &to_submit,
                &mut log_file,
            )?;
            subs.push(s);
            active.push(subs.len() - 1);
        }
        self.wait(&subs, active, &mut log_file, log)?;

        // Merge the results; the newest array that ran a run holds its result.
        let mut files = Vec::new();
        for (id, _) in &pending {
            match subs.iter().rev().find_map(|s| s.result(id)) {
                Some(file) => files.push(file),
                None => {
                    let task_log = subs.iter().rev().find_map(|s| {
                        let i = s.runs.iter().position(|r| r == id)?;
                        Some(s.dir.join(format!("task-{i}.out")))
                    });
                    let task_log =
                        task_log.map_or("(never submitted)".into(), |p| p.display().to_string());
                    let _ = writeln!(
                        log_file,
                        "no result for run {id}; its task's output: {task_log}"
                    );
                }
            }
        }
        if files.is_empty() {
            return Err(CampaignError::NoResults {
                path: results.to_owned(),
            }
            .into());
        }
        Ok(write_atomic(results, &merge_results(&files)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_script_runs_the_task_and_publishes_only_a_success() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("it's here");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("task-1.jsonl"), "{\"run_id\":\"r1\"}\n").unwrap();
        let script = d.join("job.sh");
        let template =
            "echo run_id,y > {results}; grep -q r1 {proposals} && echo r1,0.5 >> {results}";
        std::fs::write(&script, job_script(template, &d)).unwrap();
        let run = |task: &str| {
            Command::new("sh")
                .arg(&script)
                .env("SLURM_ARRAY_TASK_ID", task)
                .status()
                .unwrap()
        };
        assert!(run("1").success());
        assert_eq!(
            std::fs::read_to_string(d.join("task-1.csv")).unwrap(),
            "run_id,y\nr1,0.5\n"
        );
        // Task 2 has no proposal: the command fails and leaves no result.
        assert!(!run("2").success());
        assert!(!d.join("task-2.csv").exists());
    }

    #[test]
    fn merged_results_follow_the_first_header() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.csv");
        let b = dir.path().join("b.csv");
        std::fs::write(&a, "run_id,x,y\nr1,1,2\n").unwrap();
        std::fs::write(&b, "y,run_id\n4,r2\n").unwrap();
        let merged = merge_results(&[a, b]).unwrap();
        assert_eq!(
            String::from_utf8(merged).unwrap(),
            "run_id,x,y\nr1,1,2\nr2,,4\n"
        );
    }
}
