//! An advisory lock on a campaign directory, held while a command drives the campaign, so that
//! two processes never propose, evaluate or commit for one campaign at once.
//!
//! `flock(2)` on `campaign.lock` in the campaign directory: the kernel releases it when the
//! process exits, however it exits (`kill -9` included), so a crash never leaves a stale lock.
//! The holder writes its pid into the file for the message a second process gets. The lock's
//! descriptor is inherited by the evaluators the holder starts (and by nothing else), so an
//! evaluator that outlives its `loop` (killed, or stopped with Ctrl-C) keeps the campaign
//! locked until it finishes.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use super::CampaignError;
use crate::error::io;

/// The lock file in a campaign directory.
pub const LOCK_FILE: &str = "campaign.lock";

/// A held campaign lock; dropping it (or exiting) releases it.
#[derive(Debug)]
pub struct CampaignLock {
    file: File,
}

impl CampaignLock {
    /// The lock's descriptor, for an evaluator to inherit ([`super::CommandEvaluator`]).
    pub fn fd(&self) -> std::os::fd::RawFd {
        self.file.as_raw_fd()
    }

    /// Takes the lock on the campaign in `dir`, or refuses naming the process that holds it.
    pub fn acquire(dir: &Path) -> crate::Result<Self> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path))?;
        // SAFETY: flock on a descriptor this function owns; no memory is shared.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io(&path)(err));
            }
            let mut holder = String::new();
            file.read_to_string(&mut holder).map_err(io(&path))?;
            return Err(CampaignError::InUse {
                path: dir.to_owned(),
                pid: holder.trim().parse().ok(),
            }
            .into());
        }
        file.set_len(0).map_err(io(&path))?;
        file.rewind().map_err(io(&path))?;
        write!(file, "{}", std::process::id()).map_err(io(&path))?;
        file.sync_data().map_err(io(&path))?;
        Ok(CampaignLock { file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = CampaignLock::acquire(dir.path()).unwrap();
        // flock locks belong to the open file description: a second open in this process
        // conflicts just as another process would.
        let err = CampaignLock::acquire(dir.path()).unwrap_err().to_string();
        let pid = std::process::id().to_string();
        assert!(err.contains("in use") && err.contains(&pid), "{err}");
        drop(first);
        CampaignLock::acquire(dir.path()).unwrap();
    }
}
