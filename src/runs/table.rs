//! Reading CSV and JSONL files into a table of raw cells that remember their line.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::Result;
use crate::runs::RunsError;

/// A file read as text cells: a header and rows, each row with its 1-based line number.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub path: PathBuf,
    pub header: Vec<String>,
    /// `(line, cells)`, `cells.len() == header.len()`.
    pub rows: Vec<(u64, Vec<String>)>,
    /// Column name -> position: lookups stay O(1) with 10^5 columns.
    index: HashMap<String, usize>,
}

impl Table {
    /// The rows in tables of at most `rows` rows each (same header and path).
    pub(super) fn chunks(self, rows: usize) -> Vec<Table> {
        let header = self.header;
        let path = self.path;
        let mut all = self.rows.into_iter().peekable();
        let mut out = Vec::new();
        while all.peek().is_some() {
            let part: Vec<_> = all.by_ref().take(rows).collect();
            out.push(Table::new(&path, header.clone(), part));
        }
        out
    }

    pub(super) fn new(path: &Path, header: Vec<String>, rows: Vec<(u64, Vec<String>)>) -> Self {
        let index = header
            .iter()
            .enumerate()
            .map(|(i, h)| (h.clone(), i))
            .collect();
        Table {
            path: path.into(),
            header,
            rows,
            index,
        }
    }

    /// Whether `path` is read as JSON Lines (it ends in `.jsonl` or `.ndjson`) or as CSV.
    pub(super) fn is_jsonl(path: &Path) -> bool {
        matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("jsonl" | "ndjson")
        )
    }

    /// Reads `path` as JSONL when [`Table::is_jsonl`], as CSV otherwise.
    pub fn read(path: &Path) -> Result<Self> {
        let jsonl = Self::is_jsonl(path);
        let text = crate::io::read_text(path)?;
        // Editors on Windows start UTF-8 files with a byte-order mark; it is not data.
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let table = if jsonl {
            Self::parse_jsonl(text, path)?
        } else {
            Self::parse_csv(text, path)?
        };
        if table.rows.is_empty() {
            return Err(RunsError::NoRows { path: path.into() });
        }
        Ok(table)
    }

    fn parse_csv(text: &str, path: &Path) -> Result<Self, RunsError> {
        let parse = |e: csv::Error| RunsError::Parse {
            path: path.into(),
            line: e.position().map_or(0, |p| csv_line(text.as_bytes(), p)),
            message: e.to_string(),
        };
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .map_err(parse)?
            .iter()
            .map(str::to_owned)
            .collect();
        check_unique_header(&header, path)?;
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(parse)?;
            let line = record
                .position()
                .map_or(0, |p| csv_line(text.as_bytes(), p));
            rows.push((line, record.iter().map(str::to_owned).collect()));
            if rows.len() > MAX_ROWS {
                return Err(RunsError::TooLarge {
                    path: path.into(),
                    what: "rows",
                    limit: MAX_ROWS,
                });
            }
        }
        Ok(Table::new(path, header, rows))
    }

    /// Each non-blank line is one flat JSON object; the header is the union of keys in
    /// first-seen order, and a key absent from a row reads as an empty cell.
    fn parse_jsonl(text: &str, path: &Path) -> Result<Self, RunsError> {
        let mut header: Vec<String> = Vec::new();
        let mut known: HashSet<String> = HashSet::new();
        let mut objects = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i as u64 + 1;
            if raw.trim().is_empty() {
                continue;
            }
            let value: serde_json::Value =
                serde_json::from_str(raw).map_err(|e| RunsError::Parse {
                    path: path.into(),
                    line,
                    message: e.to_string(),
                })?;
            let serde_json::Value::Object(map) = value else {
                return Err(RunsError::Parse {
                    path: path.into(),
                    line,
                    message: "expected a JSON object per line".into(),
                });
            };
            for k in map.keys() {
                if known.insert(k.clone()) {
                    header.push(k.clone());
                }
            }
            objects.push((line, map));
            if objects.len() > MAX_ROWS {
                return Err(RunsError::TooLarge {
                    path: path.into(),
                    what: "rows",
                    limit: MAX_ROWS,
                });
            }
        }
        check_unique_header(&header, path)?;
        let rows = objects
            .into_iter()
            .map(|(line, map)| {
                let cells = header
                    .iter()
                    .map(|h| match map.get(h) {
                        None | Some(serde_json::Value::Null) => String::new(),
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(v) => v.to_string(),
                    })
                    .collect();
                (line, cells)
            })
            .collect();
        Ok(Table::new(path, header, rows))
    }

    /// Index of `column`, or an error naming the file and the column.
    pub fn column(&self, column: &str) -> Result<usize, RunsError> {
        self.index
            .get(column)
            .copied()
            .ok_or_else(|| RunsError::MissingColumn {
                path: self.path.clone(),
                column: column.to_owned(),
                known: {
                    let mut known = self.header.iter().take(12).cloned().collect::<Vec<_>>();
                    if self.header.len() > 12 {
                        known.push(format!("... ({} in all)", self.header.len()));
                    }
                    known.join(", ")
                },
                hint: super::closest(column, self.header.iter().map(String::as_str))
                    .map_or(String::new(), |c| format!("; did you mean `{c}`?")),
            })
    }

    /// The number in row `row`, column `col`: finite, else an error naming file, line, column.
    pub fn number(&self, row: usize, col: usize) -> Result<f64, RunsError> {
        let (line, cells) = &self.rows[row];
        let cell = &cells[col];
        let fail = |problem| RunsError::Cell {
            path: self.path.clone(),
            line: *line,
            column: self.header[col].clone(),
            value: cell.clone(),
            problem,
        };
        if cell.is_empty() {
            return Err(fail("is empty"));
        }
        let x: f64 = cell.parse().map_err(|_| fail("is not a number"))?;
        if !x.is_finite() {
            return Err(fail("is not finite"));
        }
        Ok(x)
    }
}

/// The 1-based line on which the CSV record at `position` of `bytes` starts. The csv crate
/// places a record that follows blank lines at the first of them (its `line()` counts them
/// away), so they are skipped before counting.
pub(crate) fn csv_line(bytes: &[u8], position: &csv::Position) -> u64 {
    let mut at = usize::try_from(position.byte()).map_or(bytes.len(), |o| o.min(bytes.len()));
    while at < bytes.len() && matches!(bytes[at], b'\n' | b'\r') {
        at += 1;
    }
    1 + bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64
}

/// Most columns a table may have.
pub const MAX_COLUMNS: usize = 1 << 20;
/// Most rows of a table read whole (training and evaluation data; candidates to score are
/// streamed instead).
pub const MAX_ROWS: usize = 10_000_000;

pub(super) fn check_unique_header(header: &[String], path: &Path) -> Result<(), RunsError> {
    if header.len() > MAX_COLUMNS {
        return Err(RunsError::TooLarge {
            path: path.into(),
            what: "columns",
            limit: MAX_COLUMNS,
        });
    }
    let mut seen = HashSet::with_capacity(header.len());
    for h in header {
        if !seen.insert(h) {
            return Err(RunsError::DuplicateColumn {
                path: path.into(),
                column: h.clone(),
            });
        }
    }
    Ok(())
}
