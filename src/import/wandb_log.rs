//! W&B's transaction log, `run-<id>.wandb`: what `wandb.init` writes for every run, and the
//! only record of an offline run (wandb 0.31 writes no `files/config.yaml` or
//! `files/wandb-summary.json` for one, finished or not).
//!
//! The file is a LevelDB-style log (wandb's `sdk/internal/datastore.py`, and `wandb-core`'s
//! `pkg/leveldb`): a 7-byte header (`:W&B`, magic `0xBEE1` little-endian, version 0), then
//! 32 KiB blocks of records, each `crc32 (LE u32) | length (LE u16) | type (u8) | data`, where
//! the CRC-32 (IEEE) covers the type byte and the data, the type is full (1) or the first (2),
//! a middle (3) or the last (4) piece of a record cut at a block boundary, and a block's last
//! 6 bytes or fewer are zero padding. A record is a protobuf `Record`
//! (`wandb/proto/wandb_internal.proto`); the fields read here, by number:
//!
//! | message | field |
//! |---|---|
//! | `Record` | `summary` 3, `config` 5, `run` 17, `exit` 18 |
//! | `RunRecord` | `run_id` 1, `config` 4, `summary` 5, `display_name` 8 |
//! | `ConfigRecord`, `SummaryRecord` | `update` 1, `remove` 2 (items) |
//! | `ConfigItem`, `SummaryItem` | `key` 1, `nested_key` 2 (repeated), `value_json` 16 |
//! | `RunExitRecord` | `exit_code` 1 |
//!
//! A killed run leaves a log that ends mid-record; what came before is read.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::Value;

use super::ImportError;

/// What one run's log says.
#[derive(Debug, Default)]
pub(super) struct RunLog {
    /// `run_id`.
    pub id: String,
    /// The run's name in the UI (`display_name`).
    pub name: String,
    /// Config values by flattened key (`data.mix.web`).
    pub config: BTreeMap<String, Value>,
    /// Last summary values by flattened key (`val/loss`, `_step`).
    pub summary: BTreeMap<String, Value>,
    /// `exit_code` when the run finished (0) or failed; `None` when it was killed or is
    /// still running.
    pub exit_code: Option<i64>,
}

const HEADER: &[u8; 4] = b":W&B";
const MAGIC: u16 = 0xBEE1;
const BLOCK: usize = 32 * 1024;
const RECORD_HEADER: usize = 7;

/// Reads the log at `path`.
pub(super) fn read(path: &Path) -> Result<RunLog, ImportError> {
    let bytes = std::fs::read(path).map_err(|e| ImportError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let bad = |message: String| ImportError::Parse {
        path: path.to_owned(),
        message,
    };
    if bytes.len() < 7 || &bytes[..4] != HEADER {
        return Err(bad("not a W&B run log (no `:W&B` header)".into()));
    }
    let magic = u16::from_le_bytes([bytes[4], bytes[5]]);
    if magic != MAGIC || bytes[6] != 0 {
        return Err(bad(format!(
            "W&B run log of an unknown kind (magic {magic:#x}, version {})",
            bytes[6]
        )));
    }
    let mut log = RunLog::default();
    let mut pos = 7;
    let mut pending: Vec<u8> = Vec::new();
    while pos + RECORD_HEADER <= bytes.len() {
        let left = BLOCK - pos % BLOCK;
        if left < RECORD_HEADER {
            pos += left;
            continue;
        }
        let h = &bytes[pos..pos + RECORD_HEADER];
        let crc = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let len = usize::from(u16::from_le_bytes([h[4], h[5]]));
        let kind = h[6];
        if kind == 0 && len == 0 {
            // Zero padding to the block's end.
            pos += left;
            continue;
        }
        let start = pos + RECORD_HEADER;
        if start + len > bytes.len() {
            break; // cut off: the run was killed while writing
        }
        let data = &bytes[start..start + len];
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&[kind]);
        hasher.update(data);
        if hasher.finalize() != crc {
            return Err(bad(format!("record at byte {pos}: checksum mismatch")));
        }
        pos = start + len;
        match kind {
            1 => apply(&mut log, data).map_err(|m| bad(format!("record at byte {pos}: {m}")))?,
            2 => pending = data.to_vec(),
            3 => pending.extend_from_slice(data),
            4 => {
                pending.extend_from_slice(data);
                let record = std::mem::take(&mut pending);
                apply(&mut log, &record).map_err(|m| bad(format!("record at byte {pos}: {m}")))?;
            }
            other => return Err(bad(format!("record at byte {pos}: unknown type {other}"))),
        }
    }
    Ok(log)
}

/// One protobuf field's value.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of a protobuf message, in order.
fn fields(mut buf: &[u8]) -> impl Iterator<Item = Result<(u64, Wire<'_>), String>> {
    std::iter::from_fn(move || {
        if buf.is_empty() {
            return None;
        }
        let mut step = || -> Result<(u64, Wire<'_>), String> {
            let tag = varint(&mut buf)?;
            let wire = match tag & 7 {
                0 => Wire::Varint(varint(&mut buf)?),
                1 | 5 => {
                    let n = if tag & 7 == 1 { 8 } else { 4 };
                    buf = buf.get(n..).ok_or("truncated fixed-width field")?;
                    Wire::Fixed
                }
                2 => {
                    let n = usize::try_from(varint(&mut buf)?).map_err(|e| e.to_string())?;
                    let (data, rest) = (buf.get(..n), buf.get(n..));
                    let (Some(data), Some(rest)) = (data, rest) else {
                        return Err("truncated length-delimited field".into());
                    };
                    buf = rest;
                    Wire::Bytes(data)
                }
                w => return Err(format!("unsupported wire type {w}")),
            };
            Ok((tag >> 3, wire))
        };
        let out = step();
        if out.is_err() {
            buf = &[];
        }
        Some(out)
    })
}

fn varint(buf: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first().ok_or("truncated varint")?;
        *buf = rest;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint longer than 10 bytes".into())
}

fn text(data: &[u8]) -> Result<String, String> {
    String::from_utf8(data.to_vec()).map_err(|e| e.to_string())
}

/// Applies one `Record` to `log`.
fn apply(log: &mut RunLog, record: &[u8]) -> Result<(), String> {
    for field in fields(record) {
        match field? {
            (3, Wire::Bytes(m)) => items(m, &mut log.summary)?,
            (5, Wire::Bytes(m)) => items(m, &mut log.config)?,
            (17, Wire::Bytes(run)) => {
                for f in fields(run) {
                    match f? {
                        (1, Wire::Bytes(id)) => log.id = text(id)?,
                        (4, Wire::Bytes(m)) => items(m, &mut log.config)?,
                        (5, Wire::Bytes(m)) => items(m, &mut log.summary)?,
                        (8, Wire::Bytes(name)) => log.name = text(name)?,
                        _ => {}
                    }
                }
            }
            (18, Wire::Bytes(exit)) => {
                log.exit_code = Some(0);
                for f in fields(exit) {
                    if let (1, Wire::Varint(code)) = f? {
                        // int32, sign-extended to 64 bits when negative.
                        log.exit_code = Some(i64::from(code as i32));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Applies a `ConfigRecord` or `SummaryRecord` (updates, then removals) to `into`.
fn items(message: &[u8], into: &mut BTreeMap<String, Value>) -> Result<(), String> {
    for field in fields(message) {
        let (number, Wire::Bytes(item)) = field? else {
            continue;
        };
        let (mut key, mut nested, mut json) = (String::new(), Vec::new(), None);
        for f in fields(item) {
            match f? {
                (1, Wire::Bytes(k)) => key = text(k)?,
                (2, Wire::Bytes(k)) => nested.push(text(k)?),
                (16, Wire::Bytes(v)) => json = Some(text(v)?),
                _ => {}
            }
        }
        let path = if nested.is_empty() {
            key
        } else {
            nested.join(".")
        };
        if path == "_wandb" || path.starts_with("_wandb.") {
            continue;
        }
        match number {
            1 => {
                let json = json.unwrap_or_else(|| "null".into());
                let value: serde_json::Value =
                    serde_json::from_str(&super::wandb::non_finite_as_null(&json))
                        .map_err(|e| format!("`{path}`: {e}"))?;
                let value = serde_yaml::to_value(&value).expect("JSON is YAML");
                remove(into, &path);
                super::wandb::flatten(&path, &value, into);
            }
            2 => remove(into, &path),
            _ => {}
        }
    }
    Ok(())
}

/// Removes the entry at `path` and every entry nested under it (`path.*`).
fn remove(into: &mut BTreeMap<String, Value>, path: &str) {
    let nested = format!("{path}.");
    into.retain(|k, _| k != path && !k.starts_with(&nested));
}
