//! The Slurm evaluator against a real single-node Slurm (`scripts/slurm-local`): a campaign
//! killed with SIGKILL while its job array is queued re-attaches on `--resume` and trains every
//! run exactly once; `sbatch` failures are clear errors.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::util::{campaign_config, expect_error, path, repo, text, world_evaluator};

/// The tests share one node with a CPU per task: one test at a time, so queueing behind
/// another test's array never counts against a timeout.
static CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `SLURM_CONF` of the local cluster, started (or found running) by `scripts/slurm-local`, and
/// the cluster to oneself while the guard lives. In CI (`CI` set) a machine without Slurm
/// fails the test; elsewhere it is skipped with the reason printed.
fn cluster() -> Option<(String, std::sync::MutexGuard<'static, ()>)> {
    let guard = CLUSTER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let out = Command::new(repo("scripts/slurm-local"))
        .arg("start")
        .output()
        .expect("bash runs scripts/slurm-local");
    let (stdout, stderr) = text(&out);
    if !out.status.success() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install slurm-wlm and munge for the Slurm tests (.ci/run does): {stderr}"
        );
        eprintln!("no local Slurm: Slurm tests skipped ({})", stderr.trim());
        return None;
    }
    let conf = stdout
        .trim()
        .strip_prefix("export SLURM_CONF=")
        .expect("slurm-local prints the export");
    Some((conf.to_owned(), guard))
}

/// `mixatlas args...` against the local cluster.
fn mixatlas_on(conf: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mixatlas"));
    cmd.args(args).env("SLURM_CONF", conf);
    cmd
}

fn run(mut cmd: Command) -> Output {
    cmd.output().expect("mixatlas starts")
}

/// The job names `rounds/<round>/slurm.jsonl` announced, in order.
fn submissions(c: &Path, round: &str) -> Vec<String> {
    std::fs::read_to_string(c.join(format!("rounds/{round}/slurm.jsonl")))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "submitting")
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_campaign_killed_while_its_jobs_are_queued_resumes_and_trains_each_run_once() {
    let Some((conf, _cluster)) = cluster() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let trained = d.join("trained.jsonl");
    // Each array task records its training, then takes two seconds: with one task per CPU the
    // batch of 4 takes two waves, so the array is queued or running when the loop is killed.
    let evaluator = format!(
        "cat {{proposals}} >> '{}' && {}",
        trained.display(),
        world_evaluator(2.0)
    );
    let cfg = campaign_config(d, &evaluator, "[slurm]\npoll_seconds = 0.2\n");
    let text_cfg = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("max_runs = 20", "max_runs = 12");
    std::fs::write(&cfg, text_cfg).unwrap();
    let c = d.join("c");
    let mut child = mixatlas_on(
        &conf,
        &["loop", "--config", path(&cfg), "--campaign", path(&c)],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let start = Instant::now();
    let record = c.join("rounds/000/slurm.jsonl");
    while !std::fs::read_to_string(&record).is_ok_and(|t| t.contains("\"submitted\"")) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no job submitted"
        );
        assert!(child.try_wait().unwrap().is_none(), "the loop ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let names = submissions(&c, "000");
    assert_eq!(names.len(), 1);
    let queue = Command::new("squeue")
        .args(["-h", "-o", "%i %T", &format!("--name={}", names[0])])
        .env("SLURM_CONF", &conf)
        .output()
        .unwrap();
    assert!(
        !text(&queue).0.trim().is_empty(),
        "the array should still be queued or running after the kill"
    );

    let out = run(mixatlas_on(
        &conf,
        &["loop", "--campaign", path(&c), "--resume"],
    ));
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(
        text(&out).0.contains("campaign complete"),
        "{}",
        text(&out).0
    );
    assert_eq!(submissions(&c, "000"), names, "round 0 was submitted again");
    let log = std::fs::read_to_string(c.join("rounds/000/evaluator.log")).unwrap();
    assert!(log.contains("re-attached to job"), "{log}");

    // Every run trained exactly once, and every run measured.
    let mut runs: Vec<String> = std::fs::read_to_string(&trained)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["run_id"].as_str().unwrap().to_owned()
        })
        .collect();
    runs.sort();
    let mut unique = runs.clone();
    unique.dedup();
    assert_eq!(runs, unique, "a run was trained twice");
    assert_eq!(runs.len(), 12);
    let final_json = std::fs::read_to_string(c.join("final.json")).unwrap();
    assert!(final_json.contains("\"run\""), "{final_json}");
}

#[test]
fn sbatch_failures_name_the_command_and_the_campaign_stays_resumable() {
    let Some((conf, _cluster)) = cluster() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = campaign_config(
        d,
        &world_evaluator(0.0),
        "[slurm]\npoll_seconds = 0.2\nsbatch_args = [\"--partition=no-such-partition\"]\n",
    );
    let c = d.join("c");
    let out = run(mixatlas_on(
        &conf,
        &["loop", "--config", path(&cfg), "--campaign", path(&c)],
    ));
    expect_error(out, "`sbatch --parsable --array=0-3");
    let out = run(mixatlas_on(
        &conf,
        &["loop", "--campaign", path(&c), "--resume"],
    ));
    expect_error(out, "Invalid partition");
    // Without Slurm's commands on PATH.
    let mut cmd = mixatlas_on(&conf, &["loop", "--campaign", path(&c), "--resume"]);
    cmd.env("PATH", "/nonexistent");
    expect_error(run(cmd), "` is not on PATH (is this a Slurm submit host?)");
}

#[test]
fn an_array_past_its_timeout_is_cancelled_and_resubmitted_on_resume() {
    let Some((conf, _cluster)) = cluster() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = campaign_config(d, &world_evaluator(60.0), "[slurm]\npoll_seconds = 0.2\n");
    let text_cfg = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("max_runs = 20", "max_runs = 4\nevaluator_timeout = 3");
    std::fs::write(&cfg, text_cfg).unwrap();
    let c = d.join("c");
    let out = run(mixatlas_on(
        &conf,
        &["loop", "--config", path(&cfg), "--campaign", path(&c)],
    ));
    expect_error(out, "evaluator killed after 3 s: slurm array");
    let names = submissions(&c, "000");
    assert_eq!(names.len(), 1);
    let log = std::fs::read_to_string(c.join("rounds/000/evaluator.log")).unwrap();
    assert!(log.contains("cancelled job"), "{log}");
    // scancel took the array out of the queue.
    let start = Instant::now();
    loop {
        let queue = Command::new("squeue")
            .args(["-h", "-o", "%i", &format!("--name={}", names[0])])
            .env("SLURM_CONF", &conf)
            .output()
            .unwrap();
        if text(&queue).0.trim().is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "still queued after scancel"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Resumed with a quick evaluator: the runs are submitted again, once, and measured.
    let out = run(mixatlas_on(
        &conf,
        &[
            "loop",
            "--campaign",
            path(&c),
            "--resume",
            "--evaluator",
            &world_evaluator(0.0),
        ],
    ));
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(submissions(&c, "000").len(), 2);
}
