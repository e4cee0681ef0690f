//! Candidate mixtures read in bounded memory: a CSV file in chunks of rows, each validated as
//! [`Runs::load_with_schema`] validates a whole file (file, line and column in every error),
//! so `predict` scores a file of any length with memory bounded by the chunk (plus 8 bytes a
//! row for the duplicate-key check).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::BufReader;

use super::Result;
use super::table::{Table, check_unique_header};
use super::{DataSpec, Runs, RunsError, Schema};
use crate::io::io;
use crate::io::{LineLimit, MAX_LINE};

/// Rows per chunk when candidates are streamed (`predict`, `propose --pool`): about
/// `65,536 x columns` cells in memory at once.
pub const STREAM_CHUNK: usize = 65_536;

type Records = csv::StringRecordsIntoIter<LineLimit<BufReader<File>>>;

/// Chunks of at most `rows` candidate mixtures (mixtures and context only) from `spec`'s
/// mixture file under a checkpoint's `schema`. JSON Lines files (whose header is the union of
/// every line's keys) are read whole and then chunked.
pub struct MixtureChunks<'a> {
    spec: &'a DataSpec,
    schema: Schema,
    source: Source,
    rows: usize,
    /// A 64-bit digest of the key of every row so far (8 bytes a row, whatever the keys'
    /// length), checked for repeats when the file is read; a repeat is then named by reading
    /// the keys again.
    digests: Vec<u64>,
    first: bool,
    /// Whether the end of the file was reached (and the keys checked).
    ended: bool,
    /// Line of the last record read.
    line: u64,
}

enum Source {
    Csv {
        header: Vec<String>,
        records: Records,
    },
    Whole(std::vec::IntoIter<Table>),
}

impl<'a> MixtureChunks<'a> {
    /// Opens `spec`'s mixture file; `rows` (at least 1) bounds each chunk.
    pub fn open(spec: &'a DataSpec, schema: &Schema, rows: usize) -> Result<Self> {
        let mut schema = schema.clone();
        schema.targets.clear();
        let path = &spec.mixtures;
        let source = if Table::is_jsonl(path) {
            Source::Whole(Table::read(path)?.chunks(rows.max(1)).into_iter())
        } else {
            let file = File::open(path).map_err(io(path))?;
            let mut reader = csv::ReaderBuilder::new()
                .trim(csv::Trim::All)
                .from_reader(LineLimit::new(BufReader::new(file), MAX_LINE));
            let header: Vec<String> = reader
                .headers()
                .map_err(|e| parse_error(spec, e, 1))?
                .iter()
                .map(|h| h.trim_start_matches('\u{feff}').to_owned())
                .collect();
            check_unique_header(&header, path)?;
            Source::Csv {
                header,
                records: reader.into_records(),
            }
        };
        Ok(MixtureChunks {
            spec,
            schema,
            source,
            rows: rows.max(1),
            digests: Vec::new(),
            first: true,
            ended: false,
            line: 1,
        })
    }

    /// The next chunk's raw table, `None` at the end of the file.
    fn next_table(&mut self) -> Result<Option<Table>> {
        match &mut self.source {
            Source::Whole(tables) => Ok(tables.next()),
            Source::Csv { header, records } => {
                let mut rows = Vec::with_capacity(self.rows.min(1 << 16));
                for record in records.by_ref().take(self.rows) {
                    let record = record.map_err(|e| parse_error(self.spec, e, self.line + 1))?;
                    let line = record.position().map_or(self.line + 1, |p| p.line());
                    self.line = line;
                    rows.push((line, record.iter().map(str::to_owned).collect()));
                }
                Ok((!rows.is_empty())
                    .then(|| Table::new(&self.spec.mixtures, header.clone(), rows)))
            }
        }
    }

    /// Records the digests of `table`'s keys.
    fn record_keys(&mut self, table: &Table) -> Result<()> {
        let Some(key) = self.spec.key.as_deref() else {
            return Ok(());
        };
        let col = table.column(key)?;
        self.digests
            .extend(table.rows.iter().map(|(_, cells)| digest(&cells[col])));
        Ok(())
    }

    /// Refuses a key that appears twice in the file (read to its end), naming both lines.
    fn check_keys(&mut self) -> Result<()> {
        let mut digests = std::mem::take(&mut self.digests);
        digests.sort_unstable();
        let repeated: HashSet<u64> = digests
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        drop(digests);
        if repeated.is_empty() {
            return Ok(());
        }
        // Read the keys again, keeping only those whose digest repeats: the first repeated
        // key in file order is the error (equal digests of unequal keys are not). A pipe or
        // FIFO cannot be read twice: the repeat is refused without its lines.
        if !std::fs::metadata(&self.spec.mixtures).is_ok_and(|m| m.is_file()) {
            return Err(RunsError::RepeatedKey {
                path: self.spec.mixtures.clone(),
            });
        }
        let key = self
            .spec
            .key
            .as_deref()
            .expect("digests are recorded with a key");
        let mut again = MixtureChunks::open(self.spec, &self.schema, self.rows)?;
        let mut first_lines: HashMap<String, u64> = HashMap::new();
        while let Some(table) = again.next_table()? {
            let col = table.column(key)?;
            for (line, cells) in &table.rows {
                if !repeated.contains(&digest(&cells[col])) {
                    continue;
                }
                if let Some(&first_line) = first_lines.get(&cells[col]) {
                    return Err(RunsError::DuplicateKey {
                        path: table.path.clone(),
                        line: *line,
                        first_line,
                        key: cells[col].clone(),
                    });
                }
                first_lines.insert(cells[col].clone(), *line);
            }
        }
        Ok(())
    }
}

/// A key's 64-bit digest (SipHash with fixed keys: the same in every run).
fn digest(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// A CSV error at its position, or at `line` when the reader knows none (an I/O error).
fn parse_error(spec: &DataSpec, e: csv::Error, line: u64) -> RunsError {
    RunsError::Parse {
        path: spec.mixtures.clone(),
        line: e.position().map_or(line, |p| p.line()),
        message: e.to_string(),
    }
}

impl Iterator for MixtureChunks<'_> {
    type Item = Result<Runs>;

    fn next(&mut self) -> Option<Self::Item> {
        let table = match self.next_table() {
            Ok(Some(t)) => t,
            Ok(None) if self.first => {
                self.first = false;
                let path = self.spec.mixtures.clone();
                return Some(Err(RunsError::NoRows { path }));
            }
            Ok(None) if self.ended => return None,
            Ok(None) => {
                self.ended = true;
                return self.check_keys().err().map(Err);
            }
            Err(e) => return Some(Err(e)),
        };
        self.first = false;
        Some(
            self.record_keys(&table)
                .and_then(|()| Runs::assemble(self.spec, self.schema.clone(), table, None)),
        )
    }
}

/// The keys of rows `rows` (0-based, in file order) of `spec`'s mixture file, read again in
/// chunks: for naming the few rows a streamed pool picked.
pub fn keys_of_rows(
    spec: &DataSpec,
    schema: &Schema,
    rows: &[usize],
) -> Result<HashMap<usize, String>> {
    let mut out = HashMap::with_capacity(rows.len());
    let mut start = 0;
    for chunk in MixtureChunks::open(spec, schema, STREAM_CHUNK)? {
        let runs = chunk?;
        for &r in rows
            .iter()
            .filter(|&&r| (start..start + runs.len()).contains(&r))
        {
            out.insert(r, runs.keys[r - start].clone());
        }
        start += runs.len();
    }
    Ok(out)
}
