//! The campaign's append-only journal: one JSON event per line, each appended with a single
//! write and flushed to disk before the campaign acts on it. A line cut short by a crash
//! (`kill -9` mid-write) is the only damage possible; it is dropped on the next open. The same
//! file discipline keeps the Slurm evaluator's record of submitted jobs (`Journal<E>` for any
//! serde event type).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::CampaignError;
use crate::error::io;

/// A run the campaign asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedRun {
    /// Unique id, `r<round>-<k>`.
    pub id: String,
    /// Stage the run belongs to (0-based).
    pub stage: usize,
    /// Weights `[domains]`.
    pub weights: Vec<f64>,
    /// Predictor context `[context]` (stage index, signals).
    pub context: Vec<f64>,
}

/// A measured run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The run's id.
    pub id: String,
    /// Outcomes `[targets]`.
    pub outcomes: Vec<f64>,
    /// Signals `[signals]` (per-task uncertainty), when configured.
    pub signals: Vec<f64>,
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A batch was proposed (before it is evaluated).
    Proposed {
        /// Round number.
        round: usize,
        /// The runs.
        runs: Vec<PlannedRun>,
    },
    /// Results arrived (all of one evaluator call or one ingest, in one line).
    Results {
        /// The results.
        results: Vec<RunResult>,
    },
    /// A stage's mixture was fixed.
    Committed {
        /// The stage.
        stage: usize,
        /// The run whose mixture was chosen.
        run: String,
    },
}

/// An open journal of events `E` (the campaign's [`Event`] unless said otherwise).
#[derive(Debug)]
pub struct Journal<E = Event> {
    path: PathBuf,
    file: File,
    events: PhantomData<fn(E)>,
}

impl<E: Serialize + DeserializeOwned> Journal<E> {
    /// The events of the journal at `path` with their 1-based line numbers, and the length of
    /// its complete lines in bytes; a last line without its newline (a torn write) is left
    /// out. Reads only: nothing is changed.
    pub fn read(path: &Path) -> crate::Result<(Vec<(usize, E)>, u64)> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(path)(e)),
        };
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        let mut events = Vec::new();
        for (i, line) in text[..complete].lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let event = serde_json::from_str(line).map_err(|e| CampaignError::Journal {
                path: path.to_owned(),
                line: i + 1,
                message: e.to_string(),
            })?;
            events.push((i + 1, event));
        }
        Ok((events, complete as u64))
    }

    /// Opens (or creates) the journal at `path` for appending and returns its events (see
    /// [`Journal::read`]); a torn last line is cut off. Call with the campaign's lock held.
    pub fn open(path: &Path) -> crate::Result<(Self, Vec<(usize, E)>)> {
        let (events, complete) = Journal::read(path)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io(path))?;
        if complete < file.metadata().map_err(io(path))?.len() {
            file.set_len(complete).map_err(io(path))?;
        }
        Ok((
            Journal {
                path: path.to_owned(),
                file,
                events: PhantomData,
            },
            events,
        ))
    }

    /// Appends `event` and flushes it to disk.
    pub fn append(&mut self, event: &E) -> crate::Result<()> {
        let mut line = serde_json::to_string(event).expect("events serialise");
        line.push('\n');
        crate::io::crash_point();
        self.file
            .write_all(line.as_bytes())
            .map_err(io(&self.path))?;
        self.file.sync_data().map_err(io(&self.path))?;
        crate::io::crash_point();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_last_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let (mut j, events) = Journal::<Event>::open(&path).unwrap();
        assert!(events.is_empty());
        let e = Event::Committed {
            stage: 0,
            run: "r000-00".into(),
        };
        j.append(&e).unwrap();
        drop(j);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"event\":\"committed\",\"sta").unwrap();
        drop(f);
        let (events, _) = Journal::<Event>::read(&path).unwrap();
        assert_eq!(events, vec![(1, e.clone())], "reading leaves the torn line");
        let (mut j, events) = Journal::<Event>::open(&path).unwrap();
        assert_eq!(events, vec![(1, e.clone())]);
        j.append(&e).unwrap();
        let (_, events) = Journal::<Event>::open(&path).unwrap();
        assert_eq!(events.len(), 2);
        std::fs::write(&path, "{\"event\":\"nope\"}\n").unwrap();
        let err = Journal::<Event>::open(&path).unwrap_err().to_string();
        assert!(err.contains("journal.jsonl:1"), "{err}");
    }
}
